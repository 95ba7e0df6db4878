#include "api_build_check.h"

#include <iostream>

#include "snap/api_compat.h"
#include "snap/env.h"
#include "snap/log_reader.h"
#include "snap/text.h"

namespace snap::program_detail {

BuildCheck api_build_check() {
  return [](const std::filesystem::path& previous_log, const Manifest& manifest, const BuildOptions& options,
            Env& env) {
    // A first build has nothing to compare with.
    if (env.file_type(previous_log) == FileType::kMissing) return false;
    Manifest previous;
    try {
      previous = LogReader::open(previous_log, {}, env)->manifest();
    } catch (const LogError& e) {
      // The build goes on: it replaces what cannot be read anyway.
      std::cerr << "api: nothing compared: the previous build's log cannot be read: " << printable(e.what())
                << std::endl;
      return false;
    }
    if (!has_api_servers(previous) && !has_api_servers(manifest)) return false;
    const ApiDiff diff = diff_apis(previous, manifest);
    api_text(diff, std::cerr);
    std::cerr.flush();
    return options.fail_on_breaking && !diff.breaking.empty();
  };
}

}  // namespace snap::program_detail
