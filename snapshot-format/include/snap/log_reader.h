// Streaming reader for a snapshot log.
//
// open() checks the file header and the footer and reads the manifest and trailer, so
// an incomplete, truncated, incompatible or foreign file is refused before any event is
// handed out. Events are then decompressed one chunk at a time.
//
// Every problem is a LogError with its own code and a one-line message; a damaged file
// never crashes the reader (it is fuzzed: tests/fuzz/), and no log makes it allocate
// beyond LogReaderLimits.
//
// Thread safety: one reader is used by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>

#include "snap/env.h"
#include "snap/log.h"

namespace snap {

// Limits on what a log may make the reader allocate or traverse. A log arrives inside a
// container image and may be damaged or hostile; these turn absurd sizes into kCorrupt
// errors naming the limit, instead of huge allocations (or std::bad_alloc). The defaults
// are the production limits: every honest log the writer makes is far inside them.
//
// What a log can make the reader hold, whatever its content: one frame (compressed and
// decompressed, each at most max_frame_bytes, buffers reused), the kind and call-site
// tables, and the manifest (at most max_manifest_bytes). Events are decoded one at a time
// on next(), so a chunk costs no memory per event.
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
  // Kind and call-site tables: a log names a few dozen kinds and call sites. Every entry
  // must also take at least one word of its frame (see below), so a table costs at most a
  // small multiple of the frame that declared it.
  std::size_t max_kinds = 65535;
  std::size_t max_call_sites = 1u << 20;
  // Events in one chunk. The writer closes a chunk at 8192 events by default
  // (LogWriterOptions::max_events_per_chunk). Independently of this, a chunk may not
  // declare more events (or table entries) than its message has 8-byte words: every
  // element the writer writes takes at least one word (an Event takes six), while a list
  // of zero-sized elements lets a few bytes declare millions of them.
  std::size_t max_events_per_chunk = 1u << 20;
  // Components in the manifest, and the bytes the decoded manifest may occupy in memory
  // (strings plus per-entry overhead). An app declares hundreds, at most thousands, of
  // components; a few bytes of Cap'n Proto may declare millions of empty ones, each
  // costing ~150 bytes decoded.
  std::size_t max_manifest_components = 1u << 16;
  std::size_t max_manifest_bytes = 64u << 20;
  // Total decompressed bytes one pass over the log may decode: the larger of the floor
  // and the file's size times the ratio. Memory is bounded by the frame limit already;
  // this bounds time: a small file of highly compressible frames (a "zip bomb") cannot
  // make a reader decode terabytes. The writer's logs decode to 10-25x their size; a log
  // of identical events can reach a few thousand, still inside (1 GiB decodes in ~1 s).
  std::uint64_t min_decoded_bytes_allowed = 1ull << 30;
  std::uint64_t max_decoded_bytes_per_file_byte = 4096;
};

// The name a build gives its log inside its output directory.
inline constexpr const char* kLogFileName = "snapshot.snaplog";

// The log a path names for a tool or a command: the path itself, or PATH/snapshot.snaplog
// when it is a directory (a build's output).
std::filesystem::path log_file_at(const std::filesystem::path& path, Env& env = real_env());

class LogReader {
 public:
  // Throws LogError: kNotFound, kNotASnapshotLog, kIncompatibleVersion, kIncomplete,
  // kTruncated, kCorrupt or kIo. The file is read through `env`, which must outlive the
  // reader.
  static std::unique_ptr<LogReader> open(const std::filesystem::path& path,
                                         const LogReaderLimits& limits = {}, Env& env = real_env());
  ~LogReader();
  LogReader(const LogReader&) = delete;
  LogReader& operator=(const LogReader&) = delete;

  const LogHeader& header() const;
  const Manifest& manifest() const;
  const Trailer& trailer() const;

  // The next event, or nullptr after the last one. The pointer and the record's views
  // stay valid until the next call to next(). At the end the event count and the digest
  // are checked against the trailer (kCorrupt on mismatch). Throws kCorrupt or kIo on
  // damage.
  const EventRecord* next();

  // Checks everything after the current position as reading to the end would -- the rest
  // of the current chunk, every later chunk (index continuity, table references, event
  // counts), the manifest's place, the event count and the digest against the trailer --
  // without changing what next() returns or invalidating the last record. A replay that
  // needs only some of the events calls it so that a log with a damaged, duplicated or
  // spliced tail is refused, not half-used. Throws LogError (kCorrupt, kTruncated, kIo).
  // Costs one decompression of the remaining chunks; nothing once next() returned nullptr.
  void verify_rest();

  // Events handed out so far.
  std::uint64_t position() const;

  class Impl;

 private:
  explicit LogReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace snap
