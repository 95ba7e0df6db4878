#include "snap/standard_output.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>

namespace snap {

std::optional<std::string> flush_standard_output() {
  errno = 0;
  std::cout.flush();
  const bool flushed = std::fflush(stdout) == 0;
  const int error = errno;
  if (flushed && !std::cout.fail() && !std::ferror(stdout)) return std::nullopt;
  // A stream that failed earlier may keep nothing buffered, and so set no errno now.
  return error != 0 ? std::string(std::strerror(error)) : std::string("write error");
}

int finish_standard_output(const std::string& program, int status) {
  const std::optional<std::string> why = flush_standard_output();
  if (!why) return status;
  std::cerr << program << ": cannot write standard output: " << *why << std::endl;
  return status == 0 ? 1 : status;
}

}  // namespace snap
