// The PostgreSQL Store: the production backend, shared by several stepd nodes.
//
// URL: postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?PARAMS] (or postgres://...). PARAMS
// are libpq's connection parameters (sslmode, connect_timeout, application_name, ...) plus two
// of Stepd's own, which are removed before the URL reaches libpq:
//   pool_size=N   connections kept open (1..64, default 8); a method waits for a free one
//   schema=NAME   the schema that holds Stepd's tables (default: the database's search_path,
//                 usually `public`); migrate() creates it. Letters, digits and _ only.
//
// Every method takes a connection from the pool, so any number of threads may call it at
// once. Each connection prepares its statements on first use. commit() sends the whole batch as
// a pipeline of set-based statements (arrays bound in binary and expanded with unnest) ending in
// one Sync, so a batch of any size is one round trip and one implicit transaction; version,
// event-id and fence checks raise inside that transaction, so a failed check writes nothing.
// Fences lock the partition rows they check (FOR SHARE) until the transaction ends, so a lease
// cannot change hands while a batch fenced by it commits.
//
// Errors: the texts store.hpp lists; otherwise "postgresql: <operation>: <server message>
// (SQLSTATE <code>)" as Unavailable (connection lost or refused, too many connections),
// Conflict (deadlock, serialization failure), AlreadyExists (unique violation), InvalidArgument
// (data exception, e.g. text that is not UTF-8; bad URL) or Internal.
//
// Activity tasks and task messages: claim_activity_task is one UPDATE whose subquery locks the
// oldest candidate row FOR UPDATE SKIP LOCKED, so claims on any number of nodes never wait for one
// another nor take one row twice. post_task_message inserts from the task row, which it locks FOR
// KEY SHARE: a concurrent delete of the row either commits first (NotFound) or waits for the
// message. task_messages of no partitions is empty; a max below 1 is InvalidArgument "max must be
// at least 1, got <n>".
//
// Connection loss: an idle pooled connection the server closed (restart, pg_terminate_backend)
// is noticed before use and replaced. When a connection breaks under a call, the pool's idle
// connections are closed too, and the call is retried once on a fresh connection if it is a
// read or certainly did not commit (the server reported an error before reaching the Sync).
// Otherwise commit() returns Unavailable saying the outcome is unknown; the caller reloads the
// executions (versions tell whether the batch landed).
//
// Schema: versioned migrations (table schema_version); migrate() holds a transaction-scoped
// advisory lock, so several nodes may call it at once. Text columns use the "C" collation, so
// orderings are bytewise like SQLite's.
#pragma once

#include "engine/store/store.hpp"

#include <memory>
#include <string>

namespace stepd::engine {

// Connects one connection to check the URL and the server (InvalidArgument for a malformed URL,
// Unavailable when the server cannot be reached). Does not migrate.
Result<std::unique_ptr<Store>> open_postgres_store(const std::string& url);

}  // namespace stepd::engine
