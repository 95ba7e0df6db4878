#include "architecture_emitter.h"

#include <cstdlib>
#include <fstream>

#include "snap/app.h"
#include "snap/log_graph.h"

namespace snap::program_detail {

BuildEmitter architecture_emitter() {
  return [](const App& app, const BuildOptions&, const std::filesystem::path& dir) {
    const auto dot_file = dir / "architecture.dot";
    std::ofstream(dot_file, std::ios::binary) << graph_dot(app.manifest());
    const std::string command = "command -v dot >/dev/null 2>&1 && dot -Tsvg -o '" +
                                (dir / "architecture.svg").string() + "' '" + dot_file.string() + "'";
    const int status = std::system(command.c_str());
    if (status != 0 && std::filesystem::exists(dir / "architecture.svg")) {
      std::filesystem::remove(dir / "architecture.svg");
    }
  };
}

}  // namespace snap::program_detail
