#include "architecture_emitter.h"

#include "snap/app.h"
#include "snap/env.h"
#include "snap/log_graph.h"

namespace snap::program_detail {

BuildEmitter architecture_emitter() {
  return [](const App& app, const BuildOptions&, const std::filesystem::path& dir) {
    Env& env = app.env();
    const std::string dot = graph_dot(app.manifest());
    write_file(env, dir / "architecture.dot", dot);
    // The picture is a convenience: without Graphviz the build has the .dot file alone.
    const Env::ProgramResult svg = env.run_program({"dot", "-Tsvg"}, dot);
    if (svg.status == 0) write_file(env, dir / "architecture.svg", svg.output);
  };
}

}  // namespace snap::program_detail
