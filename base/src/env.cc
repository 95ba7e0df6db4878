#include "snap/env.h"

namespace snap {

void write_file(Env& env, const std::filesystem::path& path, std::string_view content,
                std::filesystem::perms permissions) {
  if (path.has_parent_path()) env.create_directories(path.parent_path());
  auto file = env.create_file(path, permissions);
  file->append(content);
  file->sync();
  file->close();
}

}  // namespace snap
