// The build action that writes each ApiServer's OpenAPI 3.1 document beside the
// deployment files (docs/api.md, "OpenAPI"): DIR/openapi/SERVICE.json, SERVICE being the
// server's compose service name (Id::service_name(), "customer-server-api"). The same
// document is what the server answers GET /openapi.json with (ApiServer::openapi()).
// snap::run installs it; a program that calls run_program itself adds it to its
// ProgramOptions::emitters.
//
// Thread safety: the emitter runs once, on the build's thread.
#pragma once

#include "snap/lifecycle.h"

namespace snap {

// Writes through the app's Env (into the build's staging directory, which becomes DIR
// in one step). A program without an ApiServer gets no openapi directory.
BuildEmitter openapi_emitter();

}  // namespace snap
