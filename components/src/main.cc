#include "snap/main.h"

#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <iostream>

#include "snap/deploy.h"
#include "snap/log_graph.h"
#include "snap/regression.h"

namespace snap {

namespace {

// Writes DIR/architecture.dot (the component graph `snapshot graph` draws) and, when
// Graphviz's `dot` is installed, DIR/architecture.svg. A missing `dot` is not an error.
void emit_architecture(const App& app, const BuildOptions&, const std::filesystem::path& dir) {
  const auto dot_file = dir / "architecture.dot";
  std::ofstream(dot_file, std::ios::binary) << graph_dot(app.manifest());
  const std::string command = "command -v dot >/dev/null 2>&1 && dot -Tsvg -o '" + (dir / "architecture.svg").string() +
                              "' '" + dot_file.string() + "'";
  const int status = std::system(command.c_str());
  if (status != 0 && std::filesystem::exists(dir / "architecture.svg")) std::filesystem::remove(dir / "architecture.svg");
}

}  // namespace

int run(int argc, char** argv, std::string_view app_name, const DefineApp& define) {
  ProgramOptions options;
  options.emitters.push_back(deployment_emitter());
  options.emitters.push_back(emit_architecture);
  options.failure_json = divergence_json;
  return run_program(argc, argv, app_name, define, options);
}

}  // namespace snap
