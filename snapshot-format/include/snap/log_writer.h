// Streaming writer for a snapshot log.
//
// Events are batched into chunks of bounded size; each chunk becomes one zstd frame (with
// its content checksum on) as soon as it fills, so memory stays bounded however long the
// recording. The file is written as `PATH.partial` and renamed to PATH only by finish():
// a log at PATH is always complete, and an interrupted writer leaves a `.partial` file
// that readers report as incomplete.
//
// Thread safety: one writer is used by one thread at a time (it is not locked).
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>

#include "snap/env.h"
#include "snap/log.h"

namespace snap {

struct LogWriterOptions {
  // zstd level. 3 (zstd's default) keeps a stream of clock readings under 8 bytes per
  // event at several million events per second; higher levels shrink logs a little
  // more at a steep cost in write speed.
  int compression_level = 3;
  // A chunk is closed (compressed and written) when it holds this many events or this
  // many payload bytes, whichever comes first. Larger chunks compress better; smaller
  // ones bound memory and lose less on a crash.
  std::size_t max_events_per_chunk = 8192;
  std::size_t max_chunk_bytes = 1 << 20;
  // fsync the file before the rename in finish(), so a finished log survives a power cut.
  bool sync_on_finish = true;
  // Where the file is written (create, write, sync, rename); must outlive the writer.
  Env* env = &real_env();
};

class LogWriter {
 public:
  // Creates PATH.partial (replacing a stale one) and writes the file header and the
  // header record. Throws LogError (kIo) when the file cannot be created.
  static std::unique_ptr<LogWriter> create(const std::filesystem::path& path,
                                           const LogHeader& header,
                                           const LogWriterOptions& options = {});

  // An unfinished writer removes its `.partial` file: an abandoned recording leaves no
  // litter. (A killed process cannot, which is what readers call incomplete.)
  ~LogWriter();
  LogWriter(const LogWriter&) = delete;
  LogWriter& operator=(const LogWriter&) = delete;

  // Copies the event into the current chunk. `event.index` is ignored: events are numbered
  // in append order from 0. Throws LogError (kIo) if a full chunk cannot be written, and
  // kUsage after finish().
  void append(const EventRecord& event);

  // Writes out the current chunk even if it is not full. Lets a crash lose fewer events.
  void flush();

  // Writes the remaining chunk, the manifest, the trailer and the footer, syncs, and
  // renames PATH.partial to PATH. After it, only event_count() may be called.
  void finish(const Manifest& manifest);

  std::uint64_t event_count() const;
  const std::filesystem::path& path() const;

 private:
  class Impl;
  explicit LogWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace snap
