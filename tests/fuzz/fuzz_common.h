// What both fuzz drivers do with a log once it is a file: the limits they read it under,
// and the reads (open, one event, verify_rest(), every remaining event).
#pragma once

#include <cstdlib>
#include <cstring>
#include <string>

#include "snap/log_reader.h"

namespace snap::fuzz {

// SNAP_FUZZ_LIMITS=production: the reader's default limits, the ones replay and `snapshot
// inspect` use, so a finding there is a finding in production. Otherwise (the default)
// small limits, which keep every run fast and make the limit checks themselves reachable.
inline const LogReaderLimits& limits() {
  static const LogReaderLimits chosen = [] {
    LogReaderLimits l;
    const char* mode = std::getenv("SNAP_FUZZ_LIMITS");
    if (mode != nullptr && std::strcmp(mode, "production") == 0) return l;
    l.max_frame_bytes = 1 << 20;
    l.traversal_limit_words = (1 << 20) / 8 * 2;
    l.max_events_per_chunk = 1 << 14;
    l.max_manifest_components = 1 << 10;
    l.max_manifest_bytes = 1 << 20;
    l.min_decoded_bytes_allowed = 16u << 20;
    return l;
  }();
  return chosen;
}

// Reads the log at `path` the ways its users do; only LogError may come out.
inline void read_log(const std::string& path) {
  try {
    auto reader = LogReader::open(path, limits());
    if (reader->next() == nullptr) return;
    reader->verify_rest();  // as a replay does when it has what it needs
    while (reader->next() != nullptr) {
    }
  } catch (const LogError&) {
    // Expected for damaged input.
  }
}

}  // namespace snap::fuzz
