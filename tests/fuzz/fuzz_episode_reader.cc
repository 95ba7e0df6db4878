// libFuzzer target: any bytes read as an episode (snap/episode.h) give an episode or a
// LogError -- never a crash, a hang, an out-of-bounds read or another exception. The log
// reader's checks come first; then the episode's own: its framing events and the JSON of
// its request and response. Seeds: tests/fuzz/corpus-episodes (recorded and crafted).
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_common.h"
#include "snap/episode_file.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const int fd = memfd_create("fuzz-episode", 0);
  if (ftruncate(fd, 0) != 0) return 0;
  if (size > 0 && pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) return 0;
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  try {
    const snap::LoadedEpisode episode = snap::read_episode(path, snap::real_env(), snap::fuzz::limits());
    // What a list shows of it, as `APP episodes` does.
    (void)snap::summary_table({snap::summarize(episode)});
  } catch (const snap::LogError&) {
    // Expected for damaged input.
  }
  return 0;
}
