// A Store that forwards to a real one (SQLite or PostgreSQL) and lets a test watch and disturb
// the audit log's writes: it counts append_audit calls, can refuse them (Unavailable, as a
// database that went away) and can hold them until the test opens a gate.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "engine/store/store.hpp"

namespace stepd::server::test {

class ProbeStore final : public engine::Store {
 public:
  explicit ProbeStore(std::unique_ptr<engine::Store> inner) : inner_(std::move(inner)) {}

  engine::Store& inner() { return *inner_; }

  // append_audit calls that reached the real store / that were refused.
  int appends() const { return appends_.load(); }
  int refused() const { return refused_.load(); }
  // Sizes of the batches the real store took, in order.
  std::vector<std::size_t> batch_sizes() const {
    std::lock_guard lock(mu_);
    return batch_sizes_;
  }

  // While set, append_audit answers Unavailable with this message and writes nothing.
  void refuse_appends(bool refuse) { refuse_.store(refuse); }
  static constexpr const char* kRefusal = "injected: the database is away";

  // While closed, append_audit waits (before writing) until the gate opens.
  void close_gate() {
    std::lock_guard lock(mu_);
    gate_open_ = false;
  }
  void open_gate() {
    {
      std::lock_guard lock(mu_);
      gate_open_ = true;
    }
    gate_cv_.notify_all();
  }
  // append_audit calls waiting at the closed gate.
  int waiting_at_gate() const {
    std::lock_guard lock(mu_);
    return at_gate_;
  }

  engine::Status append_audit(const std::vector<engine::AuditRecord>& entries) override {
    {
      std::unique_lock lock(mu_);
      ++at_gate_;
      gate_cv_.wait(lock, [&] { return gate_open_; });
      --at_gate_;
    }
    if (refuse_.load()) {
      ++refused_;
      return engine::Error{engine::ErrorCode::Unavailable, kRefusal};
    }
    engine::Status s = inner_->append_audit(entries);
    if (s.ok()) {
      ++appends_;
      std::lock_guard lock(mu_);
      batch_sizes_.push_back(entries.size());
    }
    return s;
  }

  // --- Everything else goes straight through ---------------------------------------------------
  engine::Status migrate() override { return inner_->migrate(); }
  engine::Result<int> schema_version() override { return inner_->schema_version(); }
  engine::Status create_state_machine(const engine::StateMachineRecord& m) override {
    return inner_->create_state_machine(m);
  }
  engine::Status update_state_machine(const engine::StateMachineRecord& m,
                                      const engine::RevisionRecord& r) override {
    return inner_->update_state_machine(m, r);
  }
  engine::Result<engine::StateMachineRecord> get_state_machine(std::string_view arn) override {
    return inner_->get_state_machine(arn);
  }
  engine::Result<engine::RevisionRecord> get_revision(std::string_view arn,
                                                      std::string_view id) override {
    return inner_->get_revision(arn, id);
  }
  engine::Result<engine::Page<engine::StateMachineRecord>> list_state_machines(
      const engine::PageRequest& p) override {
    return inner_->list_state_machines(p);
  }
  engine::Status delete_state_machine(std::string_view arn) override {
    return inner_->delete_state_machine(arn);
  }
  engine::Status set_state_machine_tags(std::string_view arn, const std::string& tags) override {
    return inner_->set_state_machine_tags(arn, tags);
  }
  engine::Result<engine::Page<engine::AuditRecord>> list_audit(
      const engine::AuditQuery& q, const engine::PageRequest& p) override {
    return inner_->list_audit(q, p);
  }
  engine::Status commit(const engine::CommitBatch& b,
                        engine::CommitConflict* c = nullptr) override {
    return inner_->commit(b, c);
  }
  engine::Result<engine::ExecutionRecord> get_execution(std::string_view arn) override {
    return inner_->get_execution(arn);
  }
  engine::Result<engine::Page<engine::ExecutionRecord>> list_executions(
      const engine::ExecutionFilter& f, const engine::PageRequest& p) override {
    return inner_->list_executions(f, p);
  }
  engine::Result<engine::Page<engine::HistoryEvent>> get_history(std::string_view arn,
                                                                 const engine::PageRequest& p,
                                                                 bool reverse) override {
    return inner_->get_history(arn, p, reverse);
  }
  engine::Result<std::vector<engine::FrameRecord>> load_frames(std::string_view arn) override {
    return inner_->load_frames(arn);
  }
  engine::Result<std::vector<engine::MapResultRecord>> load_map_results(
      std::string_view arn) override {
    return inner_->load_map_results(arn);
  }
  engine::Result<std::vector<std::string>> open_executions(const std::vector<int>& p) override {
    return inner_->open_executions(p);
  }
  engine::Result<std::vector<engine::TimerRecord>> due_timers(engine::Micros until,
                                                              const std::vector<int>& p,
                                                              int max) override {
    return inner_->due_timers(until, p, max);
  }
  engine::Result<engine::TaskRecord> get_task(std::string_view token) override {
    return inner_->get_task(token);
  }
  engine::Result<std::vector<engine::TaskRecord>> tasks_of_execution(
      std::string_view arn) override {
    return inner_->tasks_of_execution(arn);
  }
  engine::Status create_activity(const engine::ActivityRecord& a) override {
    return inner_->create_activity(a);
  }
  engine::Result<engine::ActivityRecord> get_activity(std::string_view arn) override {
    return inner_->get_activity(arn);
  }
  engine::Result<engine::Page<engine::ActivityRecord>> list_activities(
      const engine::PageRequest& p) override {
    return inner_->list_activities(p);
  }
  engine::Status delete_activity(std::string_view arn) override {
    return inner_->delete_activity(arn);
  }
  engine::Status set_activity_tags(std::string_view arn, const std::string& tags) override {
    return inner_->set_activity_tags(arn, tags);
  }
  engine::Status put_route(const engine::RouteRecord& r) override { return inner_->put_route(r); }
  engine::Status delete_route(std::string_view kind, std::string_view name) override {
    return inner_->delete_route(kind, name);
  }
  engine::Result<std::vector<engine::RouteRecord>> list_routes() override {
    return inner_->list_routes();
  }
  engine::Result<std::optional<engine::TaskRecord>> claim_activity_task(
      std::string_view activity_arn, engine::Micros scheduled_before,
      const std::string& worker) override {
    return inner_->claim_activity_task(activity_arn, scheduled_before, worker);
  }
  engine::Result<bool> release_activity_task(std::string_view token,
                                             const std::string& worker) override {
    return inner_->release_activity_task(token, worker);
  }
  engine::Status post_task_message(const engine::TaskMessage& m) override {
    return inner_->post_task_message(m);
  }
  engine::Result<std::vector<engine::TaskMessage>> task_messages(const std::vector<int>& p,
                                                                 int max) override {
    return inner_->task_messages(p, max);
  }
  engine::Status delete_task_messages(const std::vector<std::int64_t>& ids) override {
    return inner_->delete_task_messages(ids);
  }
  engine::Result<std::vector<engine::PartitionLease>> acquire_partitions(
      const std::string& node, int partitions, int max_partitions, engine::Micros now,
      engine::Micros ttl) override {
    return inner_->acquire_partitions(node, partitions, max_partitions, now, ttl);
  }
  engine::Status release_partitions(const std::string& node) override {
    return inner_->release_partitions(node);
  }
  engine::Result<std::vector<engine::PartitionLease>> list_partitions() override {
    return inner_->list_partitions();
  }

 private:
  std::unique_ptr<engine::Store> inner_;
  std::atomic<bool> refuse_{false};
  std::atomic<int> appends_{0};
  std::atomic<int> refused_{0};
  mutable std::mutex mu_;
  std::condition_variable gate_cv_;
  bool gate_open_ = true;
  int at_gate_ = 0;
  std::vector<std::size_t> batch_sizes_;
};

}  // namespace stepd::server::test
