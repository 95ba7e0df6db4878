// How the log writer and reader turn failures into LogErrors naming the path.
#pragma once

#include <filesystem>
#include <string>

#include "snap/env.h"
#include "snap/log.h"

namespace snap::detail {

[[noreturn]] void throw_log_error(LogErrorCode code, const std::filesystem::path& path,
                                  const std::string& detail);
// kNotFound for a missing file, else kIo; the detail is "what: the system's message".
[[noreturn]] void throw_file_error(const std::filesystem::path& path, const char* what, const FileError& error);

}  // namespace snap::detail
