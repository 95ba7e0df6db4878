// Captures what the process writes to stderr (fd 2) while it lives, for tests that count
// the lines a component logs. Not thread-safe against other users of fd 2.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

namespace snap::testing {

// Where fd 2 goes for the life of this object: a file, read back by lines().
class CapturedStderr {
 public:
  CapturedStderr()
      : path_(std::filesystem::temp_directory_path() / ("snap-stderr-" + std::to_string(std::random_device{}()))) {
    std::fflush(stderr);
    saved_ = ::dup(2);
    const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ::dup2(fd, 2);
    ::close(fd);
  }
  ~CapturedStderr() {
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    std::filesystem::remove(path_);
  }
  // The lines written so far that contain `text`.
  std::vector<std::string> lines(const std::string& text) const {
    std::fflush(stderr);
    std::ifstream in(path_);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) {
      if (line.find(text) != std::string::npos) out.push_back(line);
    }
    return out;
  }

 private:
  std::filesystem::path path_;
  int saved_ = -1;
};

}  // namespace snap::testing
