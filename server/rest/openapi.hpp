// The OpenAPI 3.0 document of the REST API, served at GET /v1/openapi.json. It lists every
// route RestApi has (tests/server/rest/ checks both ways) and the schema of every answer
// (responses are checked against them).
#pragma once

#include <string_view>

namespace stepd::server::rest {

// The document's JSON text, built on the first call and kept for the life of the program
// (safe to call from any thread).
std::string_view openapi_document();

}  // namespace stepd::server::rest
