// libFuzzer target: any bytes handed to the log reader give a log or a LogError -- never a
// crash, a hang, an out-of-bounds read or another exception. See tests/fuzz/README.md.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The reader opens paths; a memfd gives the bytes a path without touching the disk.
  static const int fd = memfd_create("fuzz-log", 0);
  if (ftruncate(fd, 0) != 0) return 0;
  if (size > 0 && pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) return 0;
  const std::string path = "/proc/self/fd/" + std::to_string(fd);

  snap::fuzz::read_log(path);
  return 0;
}
