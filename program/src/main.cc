#include "snap/main.h"

#include "api_build_check.h"
#include "architecture_emitter.h"
#include "snap/deploy.h"
#include "snap/openapi_emitter.h"
#include "snap/otlp_exporter.h"
#include "snap/regression.h"

namespace snap {

int run(int argc, char** argv, std::string_view app_name, const DefineApp& define) {
  ProgramOptions options;
  options.emitters.push_back(deployment_emitter());
  options.emitters.push_back(program_detail::architecture_emitter());
  options.emitters.push_back(openapi_emitter());
  options.check_build = program_detail::api_build_check();
  options.failure_json = divergence_json;
  options.span_exporter = otlp_http_exporter;
  return run_program(argc, argv, app_name, define, options);
}

}  // namespace snap
