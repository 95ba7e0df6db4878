// Streaming reader for a snapshot log.
//
// open() checks the file header and the footer and reads the manifest and trailer, so
// an incomplete, truncated, incompatible or foreign file is refused before any event is
// handed out. Events are then decompressed one chunk at a time.
//
// Every problem is a LogError with its own code and a one-line message; a damaged file
// never crashes the reader (it is fuzzed: tests/format/fuzz_log_reader.cc).
//
// Thread safety: one reader is used by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>

#include "snap/log.h"

namespace snap {

// Limits on what a log may make the reader allocate or traverse. A log arrives inside a
// container image and may be damaged or hostile; these turn absurd sizes into kCorrupt
// errors instead of huge allocations.
struct LogReaderLimits {
  // Largest compressed or decompressed frame. The writer's chunks are ~1 MiB; a manifest
  // of thousands of components is far below this.
  std::size_t max_frame_bytes = 64u << 20;
  // zstd's window: the most memory one frame may ask for while decompressing. 2^27 is
  // zstd's own default cap (ZSTD_WINDOWLOG_LIMIT_DEFAULT); the writer uses far less.
  int max_zstd_window_log = 27;
  // Cap'n Proto traversal budget, in 8-byte words, per frame: bounds the amplification
  // a message with overlapping pointers can cause. Twice a full frame is enough for any
  // honest message.
  std::uint64_t traversal_limit_words = (64u << 20) / 8 * 2;
  // Cap'n Proto nesting depth: our schema nests 4 deep.
  int nesting_limit = 16;
  // Kind and call-site tables: a log names a few dozen kinds and call sites.
  std::size_t max_kinds = 65535;
  std::size_t max_call_sites = 1u << 20;
};

class LogReader {
 public:
  // Throws LogError: kNotFound, kNotASnapshotLog, kIncompatibleVersion, kIncomplete,
  // kTruncated, kCorrupt or kIo.
  static std::unique_ptr<LogReader> open(const std::filesystem::path& path,
                                         const LogReaderLimits& limits = {});
  ~LogReader();
  LogReader(const LogReader&) = delete;
  LogReader& operator=(const LogReader&) = delete;

  const LogHeader& header() const;
  const Manifest& manifest() const;
  const Trailer& trailer() const;

  // The next event, or nullptr after the last one. The pointer and the record's views
  // stay valid until the next call. At the end the event count and the digest are
  // checked against the trailer (kCorrupt on mismatch). Throws kCorrupt or kIo on damage.
  const EventRecord* next();

  // Events handed out so far.
  std::uint64_t position() const;

  class Impl;

 private:
  explicit LogReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace snap
