#include "snap/env.h"

namespace snap {

namespace {
ErrorCode canonical_code(const std::error_code& code) {
  if (code == std::errc::no_such_file_or_directory) return ErrorCode::kNotFound;
  if (code == std::errc::permission_denied || code == std::errc::operation_not_permitted) {
    return ErrorCode::kPermissionDenied;
  }
  if (code == std::errc::file_exists) return ErrorCode::kAlreadyExists;
  if (code == std::errc::no_space_on_device || code == std::errc::too_many_files_open) {
    return ErrorCode::kResourceExhausted;
  }
  // Not failed_precondition or invalid_argument (abseil's mapping of ENOTDIR, EINVAL...):
  // those codes are exit statuses 3 and 64, and a file error is the program failing (1).
  return ErrorCode::kUnknown;
}
}  // namespace

FileError::FileError(const std::string& message, std::error_code code)
    : Error(canonical_code(code), "file", message), code_(code) {}

void write_file(Env& env, const std::filesystem::path& path, std::string_view content,
                std::filesystem::perms permissions) {
  if (path.has_parent_path()) env.create_directories(path.parent_path());
  auto file = env.create_file(path, permissions);
  file->append(content);
  file->sync();
  file->close();
}

void copy_file(Env& env, const std::filesystem::path& from, const std::filesystem::path& to,
               std::filesystem::perms permissions) {
  const auto source = env.open_for_reading(from);
  auto target = env.create_file(to, permissions);
  std::string piece(1 << 20, '\0');
  for (std::uint64_t offset = 0;;) {
    const std::size_t n = source->read_at(offset, piece.data(), piece.size());
    if (n == 0) break;
    target->append(std::string_view(piece.data(), n));
    offset += n;
  }
  target->close();
}

}  // namespace snap
