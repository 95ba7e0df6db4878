#include "snap/log_reader.h"

#include <zstd.h>
#include <zstd_errors.h>

#include <capnp/any.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "log_error.h"
#include "log.capnp.h"
#include "log_layout.h"

namespace snap {

namespace {

std::string_view view_of(capnp::Text::Reader t) { return std::string_view(t.cStr(), t.size()); }
std::string_view view_of(capnp::Data::Reader d) {
  return std::string_view(reinterpret_cast<const char*>(d.begin()), d.size());
}

struct StoredSite {
  std::string file;
  std::string function;
  std::uint32_t line;
  std::uint32_t column;
};

}  // namespace

// The events of one chunk, as Cap'n Proto's list reader and, when the message has the
// shape every writer of this schema produces (one segment; Event structs of at least 2 data
// words and 3 pointers), as raw addresses. The raw path reads fields and Text/Data pointers
// directly with the same bounds checks Cap'n Proto makes, inline: Cap'n Proto's accessors
// are out-of-line calls, and they were a quarter of the reader's time. Anything unusual (far
// pointers, other element sizes, a message of several segments) takes Cap'n Proto's path.
struct ChunkView {
  capnp::List<schema::Event>::Reader list;
  std::uint32_t size = 0;
  bool raw = false;
  const unsigned char* first = nullptr;  // element 0's data section
  std::size_t step = 0;                  // bytes from one element to the next
  std::size_t data_bytes = 0;            // data section size; pointers follow it
  const unsigned char* segment_begin = nullptr;
  const unsigned char* segment_end = nullptr;
  // Bytes of text and data the raw path may still hand out: Cap'n Proto's traversal limit,
  // which the raw path bypasses (a hostile chunk may point every event at one large blob).
  std::uint64_t budget_bytes = 0;
};

// One decoded frame: its words and the Cap'n Proto message over them. The reader keeps two:
// `main_` for the chunk next() is handing out, `scan_` for verify_rest(), which must not
// disturb the views of the record next() last returned.
struct Frame {
  kj::Array<capnp::word> words;  // grown, never shrunk (capnp::word is not copyable)
  std::optional<capnp::FlatArrayMessageReader> message;
  std::optional<schema::Record::Reader> record;
  std::uint64_t offset = 0;       // of the frame prefix
  std::uint64_t body_digest = 0;  // digest64 of the compressed bytes
  std::size_t words_used = 0;     // of the current message
  std::uint64_t decoded_total = 0;  // decompressed bytes through this frame, this pass

  void reset() {
    record.reset();
    message.reset();
  }
};

class LogReader::Impl {
 public:
  Impl(std::filesystem::path path, LogReaderLimits limits, Env& env)
      : path_(std::move(path)), limits_(limits), env_(env) {}
  ~Impl() {
    if (dctx_ != nullptr) ZSTD_freeDCtx(dctx_);
  }

  void open() {
    // The Env refuses what is not a regular file: a FIFO, socket or device has no size
    // and may never reach end-of-file (opening one never blocks). memfd and /proc/self/fd
    // paths of regular files pass.
    try {
      file_ = env_.open_for_reading(path_);
    } catch (const FileError& e) {
      if (e.code() == std::errc::no_such_file_or_directory) {
        detail::throw_log_error(LogErrorCode::kNotFound, path_, "no such file");
      }
      if (e.code() == std::errc::is_a_directory) {
        detail::throw_log_error(LogErrorCode::kNotASnapshotLog, path_, "is a directory");
      }
      if (e.code() == std::errc::invalid_argument) {
        detail::throw_log_error(LogErrorCode::kNotASnapshotLog, path_, "not a regular file");
      }
      detail::throw_file_error(path_, "cannot open", e);
    }
    size_ = file_->size();
    decoded_allowed_ = std::max<std::uint64_t>(limits_.min_decoded_bytes_allowed,
                                               size_ > UINT64_MAX / std::max<std::uint64_t>(1, limits_.max_decoded_bytes_per_file_byte)
                                                   ? UINT64_MAX
                                                   : size_ * limits_.max_decoded_bytes_per_file_byte);

    dctx_ = ZSTD_createDCtx();
    if (dctx_ == nullptr) detail::throw_log_error(LogErrorCode::kIo, path_, "out of memory");
    ZSTD_DCtx_setParameter(dctx_, ZSTD_d_windowLogMax, limits_.max_zstd_window_log);

    check_file_header();
    std::uint64_t next = layout::kFileHeaderSize;
    read_frame(main_, next, "header");
    if (!main_.record->isHeader()) corrupt(layout::kFileHeaderSize, "first record is not a header");
    guard(layout::kFileHeaderSize, [&] {
      auto h = main_.record->getHeader();
      header_.app_name = view_of(h.getAppName());
      header_.binary_fingerprint = view_of(h.getBinaryFingerprint());
      header_.writer_version = view_of(h.getWriterVersion());
      if (h.hasKind()) header_.kind = view_of(h.getKind());
    });
    digest_.update(&main_.body_digest, sizeof main_.body_digest);
    first_chunk_offset_ = next;

    if (!read_footer()) classify_unfinished(first_chunk_offset_);
    main_.decoded_total = 0;  // the pass over events starts here
    cursor_ = first_chunk_offset_;
  }

  const EventRecord* next() {
    while (chunk_pos_ >= chunk_size_) {
      if (at_end_) return nullptr;
      load_next_chunk();
    }
    const std::uint32_t i = chunk_pos_++;
    decode_event(chunk_start_, events_, i, position_base_ + i, kind_views_.size(), site_views_.size(), &current_);
    return &current_;
  }

  std::uint64_t position() const { return position_base_ + chunk_pos_; }

  void verify_rest() {
    if (at_end_) return;
    // The rest of the chunk next() is in, into a scratch record: current_ stays valid.
    EventRecord scratch;
    for (std::uint32_t i = chunk_pos_; i < chunk_size_; ++i) {
      decode_event(chunk_start_, events_, i, position_base_ + i, kind_views_.size(), site_views_.size(), &scratch);
    }
    // Then every later frame, with the tables only counted: next() will build them itself
    // when it gets there.
    std::uint64_t offset = cursor_;
    std::uint64_t events = position_base_ + chunk_size_;
    std::size_t kinds = kind_views_.size();
    std::size_t sites = site_views_.size();
    layout::Digest digest = digest_;
    scan_.decoded_total = main_.decoded_total;
    for (;;) {
      const std::uint64_t start = offset;
      read_frame(scan_, offset, "chunk");
      digest.update(&scan_.body_digest, sizeof scan_.body_digest);
      if (scan_.record->isManifest()) {
        check_end(start, events, digest);
        break;
      }
      if (!scan_.record->isChunk()) corrupt(start, "expected an event chunk");
      guard(start, [&] {
        auto chunk = scan_.record->getChunk();
        check_chunk_head(start, chunk, scan_.words_used, events);
        kinds += chunk.getNewKinds().size();
        sites += chunk.getNewCallSites().size();
        check_table_sizes(start, kinds, sites);
        ChunkView view = view_of_events(scan_, chunk.getEvents());
        for (std::uint32_t i = 0; i < view.size; ++i) decode_event(start, view, i, events + i, kinds, sites, &scratch);
        events += view.size;
      });
    }
    scan_.reset();
  }

  LogHeader header_;
  Manifest manifest_;
  Trailer trailer_;

 private:
  [[noreturn]] void corrupt(std::uint64_t offset, const std::string& why) {
    detail::throw_log_error(LogErrorCode::kCorrupt, path_, "at byte " + std::to_string(offset) + ": " + why);
  }
  [[noreturn]] void over_limit(std::uint64_t offset, const std::string& what, std::uint64_t value,
                               std::uint64_t limit) {
    corrupt(offset, what + " " + std::to_string(value) + " exceeds the reader limit of " + std::to_string(limit));
  }
  [[noreturn]] void truncated(std::uint64_t offset, const std::string& why) {
    detail::throw_log_error(LogErrorCode::kTruncated, path_,
                            "file ends at byte " + std::to_string(size_) + " " + why + " (at byte " +
                                std::to_string(offset) + ")");
  }

  // Cap'n Proto validates lazily, so any field access may throw: turn that into kCorrupt.
  template <typename F>
  void guard(std::uint64_t offset, F&& f) {
    try {
      f();
    } catch (const kj::Exception& e) {
      corrupt(offset, std::string("bad message: ") + e.getDescription().cStr());
    }
  }

  void check_file_header() {
    unsigned char head[layout::kFileHeaderSize];
    const std::size_t got = read_at(head, sizeof head, 0);
    const std::size_t magic_len = std::min<std::size_t>(got, sizeof layout::kMagic);
    if (got == 0 || std::memcmp(head, layout::kMagic, magic_len) != 0) {
      detail::throw_log_error(LogErrorCode::kNotASnapshotLog, path_, "bad magic");
    }
    if (got < sizeof head) truncated(0, "inside the file header");
    if (layout::get_u32(head + 20) != layout::digest32(head, 20)) corrupt(0, "file header check mismatch");
    header_.format_version = layout::get_u32(head + 8);
    header_.compatible_flags = layout::get_u32(head + 12);
    if (header_.format_version != layout::kFormatVersion) {
      detail::throw_log_error(LogErrorCode::kIncompatibleVersion, path_,
                              "log has format version " + std::to_string(header_.format_version) +
                                  ", this reader reads version " + std::to_string(layout::kFormatVersion));
    }
  }

  // Reads the frame at `offset` into `frame` and advances `offset` past it.
  void read_frame(Frame& frame, std::uint64_t& offset, const char* what) {
    const std::uint64_t start = offset;
    // The previous message points into the buffer this frame may replace.
    frame.reset();
    unsigned char prefix[layout::kFramePrefixSize];
    const std::size_t got = read_at(prefix, sizeof prefix, start);
    if (got < sizeof prefix) truncated(start, std::string("inside the prefix of the ") + what + " frame");
    if (layout::get_u32(prefix + 12) != layout::digest32(prefix, 12)) corrupt(start, "bad frame prefix");
    const std::uint32_t compressed = layout::get_u32(prefix);
    const std::uint32_t decompressed = layout::get_u32(prefix + 4);
    if (compressed > limits_.max_frame_bytes || decompressed > limits_.max_frame_bytes) {
      over_limit(start, "frame of", std::max(compressed, decompressed), limits_.max_frame_bytes);
    }
    if (decompressed % sizeof(capnp::word) != 0 || decompressed == 0) {
      corrupt(start, "bad frame: message size " + std::to_string(decompressed) + " is not a whole number of words");
    }
    const std::uint64_t body = start + layout::kFramePrefixSize;
    if (body > size_ || size_ - body < compressed) {
      truncated(start, std::string("inside the ") + what + " frame of " + std::to_string(compressed) + " bytes");
    }
    frame.decoded_total += decompressed;
    if (frame.decoded_total > decoded_allowed_) {
      over_limit(start, "decoded size (bytes) of the log so far", frame.decoded_total, decoded_allowed_);
    }
    if (compressed_.size() < compressed) compressed_.resize(compressed);
    if (read_at(compressed_.data(), compressed, body) != compressed) {
      truncated(start, std::string("inside the ") + what + " frame");
    }
    frame.body_digest = layout::digest64(compressed_.data(), compressed);
    if (layout::get_u32(prefix + 8) != layout::fold32(frame.body_digest)) {
      corrupt(body, "frame checksum mismatch");
    }

    const unsigned long long content = ZSTD_getFrameContentSize(compressed_.data(), compressed);
    if (content == ZSTD_CONTENTSIZE_ERROR || content == ZSTD_CONTENTSIZE_UNKNOWN || content != decompressed) {
      corrupt(body, "bad frame: zstd frame header does not match the frame prefix");
    }
    if (ZSTD_findFrameCompressedSize(compressed_.data(), compressed) != compressed) {
      corrupt(body, "bad frame: zstd frame length does not match the frame prefix");
    }
    const std::size_t words = decompressed / sizeof(capnp::word);
    if (frame.words.size() < words) frame.words = kj::heapArray<capnp::word>(words);
    const std::size_t n = ZSTD_decompressDCtx(dctx_, frame.words.begin(), decompressed, compressed_.data(), compressed);
    if (ZSTD_isError(n)) {
      if (ZSTD_getErrorCode(n) == ZSTD_error_checksum_wrong) corrupt(body, "zstd checksum mismatch");
      corrupt(body, std::string("bad frame: zstd: ") + ZSTD_getErrorName(n));
    }
    if (n != decompressed) corrupt(body, "bad frame: decompressed size differs from the frame prefix");

    capnp::ReaderOptions options;
    options.traversalLimitInWords = limits_.traversal_limit_words;
    options.nestingLimit = limits_.nesting_limit;
    guard(body, [&] {
      frame.message.emplace(kj::ArrayPtr<const capnp::word>(frame.words.begin(), words), options);
      frame.record = frame.message->getRoot<schema::Record>();
      (void)frame.record->which();
    });
    frame.offset = start;
    frame.words_used = words;
    offset = body + compressed;
  }

  bool read_footer() {
    if (size_ < layout::kFileHeaderSize + layout::kFooterSize) return false;
    const std::uint64_t at = size_ - layout::kFooterSize;
    unsigned char footer[layout::kFooterSize];
    if (read_at(footer, sizeof footer, at) != sizeof footer) return false;
    if (std::memcmp(footer + 20, layout::kEndMagic, sizeof layout::kEndMagic) != 0) return false;
    if (layout::get_u32(footer + 16) != layout::digest32(footer, 16)) return false;
    std::uint64_t manifest_at = layout::get_u64(footer);
    std::uint64_t trailer_at = layout::get_u64(footer + 8);
    if (manifest_at < first_chunk_offset_ || manifest_at >= trailer_at || trailer_at >= at) return false;

    const std::uint64_t trailer_start = trailer_at;
    read_frame(main_, trailer_at, "trailer");
    if (!main_.record->isTrailer() || trailer_at != at) corrupt(at, "bad footer: trailer offset");
    take_trailer();
    manifest_offset_ = manifest_at;
    read_frame(main_, manifest_at, "manifest");
    if (!main_.record->isManifest() || manifest_at != trailer_start) {
      corrupt(manifest_offset_, "bad footer: manifest offset");
    }
    take_manifest();
    return true;
  }

  void take_trailer() {
    guard(main_.offset, [&] {
      auto t = main_.record->getTrailer();
      trailer_.event_count = t.getEventCount();
      trailer_.digest = t.getDigest();
      trailer_.complete = t.getComplete();
    });
    if (!trailer_.complete) {
      detail::throw_log_error(LogErrorCode::kIncomplete, path_, "the trailer marks the log unfinished");
    }
  }

  // Counted before anything is allocated: a few bytes of Cap'n Proto can declare millions of
  // empty components (see LogReaderLimits).
  void take_manifest() {
    const std::uint64_t at = main_.offset;
    guard(at, [&] {
      auto components = main_.record->getManifest().getComponents();
      if (components.size() > limits_.max_manifest_components) {
        over_limit(at, "manifest of components:", components.size(), limits_.max_manifest_components);
      }
      if (components.size() > main_.words_used) {
        corrupt(at, "manifest declares " + std::to_string(components.size()) + " components in a message of " +
                        std::to_string(main_.words_used) + " words");
      }
      std::uint64_t bytes = 0;
      manifest_.components.reserve(components.size());
      for (auto c : components) {
        auto uses = c.getUses();
        auto secrets = c.getSecrets();
        if (!c.hasSecrets()) manifest_.secret_names_recorded = false;
        const auto id = view_of(c.getId()), type = view_of(c.getType()), persona = view_of(c.getPersona()),
                   config = view_of(c.getConfig());
        bytes += sizeof(ComponentEntry) + id.size() + type.size() + persona.size() + config.size() +
                 (std::uint64_t{uses.size()} + secrets.size()) * sizeof(std::string);
        for (auto u : uses) bytes += u.size();
        for (auto n : secrets) bytes += n.size();
        if (bytes > limits_.max_manifest_bytes) {
          over_limit(at, "decoded manifest size (bytes)", bytes, limits_.max_manifest_bytes);
        }
        ComponentEntry e;
        e.id = id;
        e.type = type;
        e.persona = persona;
        e.config = config;
        e.uses.reserve(uses.size());
        for (auto u : uses) e.uses.emplace_back(view_of(u));
        e.secrets.reserve(secrets.size());
        for (auto n : secrets) e.secrets.emplace_back(view_of(n));
        manifest_.components.push_back(std::move(e));
      }
    });
  }

  // No valid footer: walk the frames to tell a log that was cut (truncated) from one
  // whose writer stopped between frames (incomplete), or find the damage.
  [[noreturn]] void classify_unfinished(std::uint64_t offset) {
    std::uint64_t events = 0;
    while (offset < size_) {
      const std::uint64_t start = offset;
      read_frame(main_, offset, "next");
      if (main_.record->isChunk()) {
        guard(start, [&] { events += main_.record->getChunk().getEvents().size(); });
      } else if (main_.record->isTrailer()) {
        take_trailer();
        const std::uint64_t rest = size_ - offset;
        if (rest < layout::kFooterSize) truncated(offset, "inside the footer");
        corrupt(offset, "bad footer");
      }
    }
    detail::throw_log_error(LogErrorCode::kIncomplete, path_,
                            "the writer never finished (" + std::to_string(events) +
                                " events, no trailer)");
  }

  // The manifest frame ends the events: they must match the trailer.
  void check_end(std::uint64_t start, std::uint64_t events, const layout::Digest& digest) {
    if (start != manifest_offset_) corrupt(start, "manifest found before its recorded offset");
    if (events != trailer_.event_count) {
      corrupt(start, "log holds " + std::to_string(events) + " events, the trailer says " +
                         std::to_string(trailer_.event_count));
    }
    if (digest.value() != trailer_.digest) corrupt(start, "digest mismatch: frames are missing, repeated or out of order");
  }

  // Index continuity and the size limits, before any event is looked at.
  void check_chunk_head(std::uint64_t start, schema::Chunk::Reader chunk, std::size_t words, std::uint64_t expected) {
    if (chunk.getFirstEventIndex() != expected) {
      corrupt(start, "chunk starts at event " + std::to_string(chunk.getFirstEventIndex()) + ", expected " +
                         std::to_string(expected) + " (a chunk is missing, repeated or from another log)");
    }
    const std::uint64_t events = chunk.getEvents().size();
    if (events > limits_.max_events_per_chunk) over_limit(start, "chunk of events:", events, limits_.max_events_per_chunk);
    const std::uint64_t entries = events + chunk.getNewKinds().size() + chunk.getNewCallSites().size();
    if (entries > words) {
      corrupt(start, "chunk declares " + std::to_string(entries) + " events and table entries in a message of " +
                         std::to_string(words) + " words");
    }
  }

  void check_table_sizes(std::uint64_t start, std::size_t kinds, std::size_t sites) {
    if (kinds > limits_.max_kinds) over_limit(start, "table of event kinds:", kinds, limits_.max_kinds);
    if (sites > limits_.max_call_sites) over_limit(start, "table of call sites:", sites, limits_.max_call_sites);
  }

  void load_next_chunk() {
    const std::uint64_t start = cursor_;
    // current_ points into the message this replaces: it is no longer handed out.
    events_ = {};
    read_frame(main_, cursor_, "chunk");
    digest_.update(&main_.body_digest, sizeof main_.body_digest);
    position_base_ += chunk_size_;
    chunk_size_ = 0;
    chunk_pos_ = 0;
    if (main_.record->isManifest()) {
      at_end_ = true;
      check_end(start, position_base_, digest_);
      return;
    }
    if (!main_.record->isChunk()) corrupt(start, "expected an event chunk");
    guard(start, [&] {
      auto chunk = main_.record->getChunk();
      check_chunk_head(start, chunk, main_.words_used, position_base_);
      auto new_kinds = chunk.getNewKinds();
      auto new_sites = chunk.getNewCallSites();
      check_table_sizes(start, kinds_.size() + new_kinds.size(), sites_.size() + new_sites.size());
      for (auto k : new_kinds) {
        kinds_.emplace_back(view_of(k));
        kind_views_.push_back(kinds_.back());
      }
      for (auto s : new_sites) {
        sites_.push_back(StoredSite{std::string(view_of(s.getFile())), std::string(view_of(s.getFunction())),
                                    s.getLine(), s.getColumn()});
        const StoredSite& stored = sites_.back();
        site_views_.push_back(CallSite{stored.file, stored.line, stored.column, stored.function});
      }
      events_ = view_of_events(main_, chunk.getEvents());
      chunk_size_ = events_.size;
      chunk_start_ = start;
    });
  }

  ChunkView view_of_events(const Frame& frame, capnp::List<schema::Event>::Reader list) const {
    ChunkView v;
    v.list = list;
    v.size = list.size();
    const auto* words = reinterpret_cast<const unsigned char*>(frame.words.begin());
    if (v.size < 2 || layout::get_u32(words) != 0) return v;  // not one segment
    v.segment_begin = words + 8;
    v.segment_end = v.segment_begin + std::size_t{layout::get_u32(words + 4)} * 8;
    const capnp::AnyStruct::Reader e0(list[0]), e1(list[1]);
    v.data_bytes = e0.getDataSection().size();
    const std::size_t pointers = e0.getPointerSection().size();
    v.first = e0.getDataSection().begin();
    v.step = static_cast<std::size_t>(e1.getDataSection().begin() - v.first);
    if (v.data_bytes < 16 || pointers < 3 || v.step != v.data_bytes + pointers * 8) return v;
    if (v.first < v.segment_begin || v.first > v.segment_end ||
        std::size_t(v.segment_end - v.first) / v.step < v.size) {
      return v;
    }
    v.budget_bytes = limits_.traversal_limit_words * 8;
    v.raw = true;
    return v;
  }

  // Text (with its NUL) or Data at pointer `p`, checked as Cap'n Proto checks it; false when
  // only Cap'n Proto's own path can read it (or report its damage).
  static bool raw_blob(ChunkView& v, const unsigned char* p, bool text, std::string_view* out) {
    const std::uint64_t w = layout::get_u64(p);
    if (w == 0) {
      *out = {};
      return true;
    }
    if ((w & 3) != 1 || ((w >> 32) & 7) != 2) return false;  // not a near list of bytes
    const auto offset = static_cast<std::int64_t>(static_cast<std::int32_t>(static_cast<std::uint32_t>(w)) >> 2);
    const std::uint64_t count = w >> 35;
    // In offsets from the segment's start, so that a wild offset is never even formed as a
    // pointer outside the buffer.
    const std::int64_t segment_size = v.segment_end - v.segment_begin;
    const std::int64_t at = (p - v.segment_begin) + 8 + offset * 8;
    if (at < 0 || at > segment_size || count > static_cast<std::uint64_t>(segment_size - at)) return false;
    const unsigned char* target = v.segment_begin + at;
    const std::uint64_t charged = (count + 7) & ~std::uint64_t{7};
    if (charged > v.budget_bytes) return false;
    v.budget_bytes -= charged;
    if (text) {
      if (count == 0 || target[count - 1] != 0) return false;
      *out = std::string_view(reinterpret_cast<const char*>(target), count - 1);
    } else {
      *out = std::string_view(reinterpret_cast<const char*>(target), count);
    }
    return true;
  }

  // The raw path for event i; false (with `r` partly written) when it must take Cap'n
  // Proto's. Field offsets are those of the generated accessors: kind u16 at byte 0, the
  // result's discriminant u16 at 2, callSite u32 at 4, integer i64 at 8; pointers key 0,
  // request 1, result 2.
  bool decode_raw(std::uint64_t start, ChunkView& v, std::uint32_t i, std::uint64_t index, std::size_t kinds,
                  std::size_t sites, EventRecord& r) {
    const unsigned char* d = v.first + std::size_t{i} * v.step;
    const unsigned char* ptrs = d + v.data_bytes;
    const std::uint16_t kind = static_cast<std::uint16_t>(d[0] | (d[1] << 8));
    if (kind >= kinds) corrupt(start, "event " + std::to_string(index) + " names an unknown kind");
    const std::uint32_t site = layout::get_u32(d + 4);
    if (site != layout::kNoCallSite && site >= sites) {
      corrupt(start, "event " + std::to_string(index) + " names an unknown call site");
    }
    if (!raw_blob(v, ptrs, true, &r.key) || !raw_blob(v, ptrs + 8, false, &r.request)) return false;
    const std::uint16_t which = static_cast<std::uint16_t>(d[2] | (d[3] << 8));
    r.integer = 0;
    switch (which) {
      case schema::Event::Result::NONE:
        r.result_kind = ResultKind::kNone;
        r.bytes = {};
        break;
      case schema::Event::Result::INTEGER:
        r.result_kind = ResultKind::kInteger;
        r.integer = static_cast<std::int64_t>(layout::get_u64(d + 8));
        r.bytes = {};
        break;
      case schema::Event::Result::BYTES:
        r.result_kind = ResultKind::kBytes;
        if (!raw_blob(v, ptrs + 16, false, &r.bytes)) return false;
        break;
      case schema::Event::Result::SECRET_HANDLE:
        r.result_kind = ResultKind::kSecretHandle;
        if (!raw_blob(v, ptrs + 16, true, &r.bytes)) return false;
        break;
      case schema::Event::Result::FAILURE:
        r.result_kind = ResultKind::kFailure;
        if (!raw_blob(v, ptrs + 16, true, &r.bytes)) return false;
        break;
      default: corrupt(start, "event " + std::to_string(index) + " has an unknown result kind");
    }
    r.index = index;
    r.kind = kind < kind_views_.size() ? kind_views_[kind] : std::string_view();
    if (site == layout::kNoCallSite) {
      r.call_site = CallSite{};
    } else {
      r.call_site = site < site_views_.size() ? site_views_[site] : CallSite{};
    }
    return true;
  }

  void decode_event(std::uint64_t start, ChunkView& v, std::uint32_t i, std::uint64_t index, std::size_t kinds,
                    std::size_t sites, EventRecord* out) {
    if (v.raw && decode_raw(start, v, i, index, kinds, sites, *out)) return;
    decode_event(start, v.list[i], index, kinds, sites, out);
  }

  // Decodes one event into `r`, checking its table references against tables of `kinds`
  // and `sites` entries. With out == &scratch and counts beyond the built tables (verify_rest)
  // the views are not used, only the checks.
  void decode_event(std::uint64_t start, schema::Event::Reader e, std::uint64_t index, std::size_t kinds,
                    std::size_t sites, EventRecord* out) {
    EventRecord& r = *out;
    try {
      const std::uint16_t kind = e.getKind();
      if (kind >= kinds) corrupt(start, "event " + std::to_string(index) + " names an unknown kind");
      r.index = index;
      r.kind = kind < kind_views_.size() ? kind_views_[kind] : std::string_view();
      const std::uint32_t site = e.getCallSite();
      if (site == layout::kNoCallSite) {
        r.call_site = CallSite{};
      } else if (site < sites) {
        r.call_site = site < site_views_.size() ? site_views_[site] : CallSite{};
      } else {
        corrupt(start, "event " + std::to_string(index) + " names an unknown call site");
      }
      // A null pointer reads as empty: no has*() check needed.
      r.key = view_of(e.getKey());
      r.request = view_of(e.getRequest());
      auto result = e.getResult();
      r.integer = 0;
      switch (result.which()) {
        case schema::Event::Result::NONE:
          r.result_kind = ResultKind::kNone;
          r.bytes = {};
          break;
        case schema::Event::Result::INTEGER:
          r.result_kind = ResultKind::kInteger;
          r.integer = result.getInteger();
          r.bytes = {};
          break;
        case schema::Event::Result::BYTES:
          r.result_kind = ResultKind::kBytes;
          r.bytes = view_of(result.getBytes());
          break;
        case schema::Event::Result::SECRET_HANDLE:
          r.result_kind = ResultKind::kSecretHandle;
          r.bytes = view_of(result.getSecretHandle());
          break;
        case schema::Event::Result::FAILURE:
          r.result_kind = ResultKind::kFailure;
          r.bytes = view_of(result.getFailure());
          break;
        default: corrupt(start, "event " + std::to_string(index) + " has an unknown result kind");
      }
    } catch (const kj::Exception& ex) {
      corrupt(start, "bad message: event " + std::to_string(index) + ": " + ex.getDescription().cStr());
    }
  }

  // Reads up to `size` bytes at `offset` (short only at the end of the file); kIo on failure.
  std::size_t read_at(void* out, std::size_t size, std::uint64_t offset) {
    try {
      return file_->read_at(offset, out, size);
    } catch (const FileError& e) {
      detail::throw_file_error(path_, "read failed", e);
    }
  }

  std::filesystem::path path_;
  LogReaderLimits limits_;
  Env& env_;
  std::unique_ptr<RandomAccessFile> file_;
  std::uint64_t size_ = 0;
  std::uint64_t decoded_allowed_ = 0;
  ZSTD_DCtx* dctx_ = nullptr;

  std::vector<char> compressed_;  // shared by both frames: only read_frame uses it
  Frame main_;
  Frame scan_;

  std::uint64_t first_chunk_offset_ = 0;
  std::uint64_t manifest_offset_ = 0;
  std::uint64_t cursor_ = 0;
  layout::Digest digest_;
  bool at_end_ = false;

  // deques: views handed out must survive the tables growing.
  std::deque<std::string> kinds_;
  std::deque<StoredSite> sites_;
  // Views of the tables above, for O(1) indexing on the per-event path.
  std::vector<std::string_view> kind_views_;
  std::vector<CallSite> site_views_;

  // The chunk next() is in: its events are decoded one at a time into current_, so a
  // chunk costs no per-event memory, and a chunk's events are only touched once.
  ChunkView events_;
  std::uint32_t chunk_size_ = 0;
  std::uint32_t chunk_pos_ = 0;
  std::uint64_t chunk_start_ = 0;
  std::uint64_t position_base_ = 0;
  EventRecord current_;
};

std::unique_ptr<LogReader> LogReader::open(const std::filesystem::path& path, const LogReaderLimits& limits, Env& env) {
  auto impl = std::make_unique<Impl>(path, limits, env);
  impl->open();
  return std::unique_ptr<LogReader>(new LogReader(std::move(impl)));
}

LogReader::LogReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LogReader::~LogReader() = default;
const LogHeader& LogReader::header() const { return impl_->header_; }
std::filesystem::path log_file_at(const std::filesystem::path& path, Env& env) {
  return env.file_type(path) == FileType::kDirectory ? path / kLogFileName : path;
}

const Manifest& LogReader::manifest() const { return impl_->manifest_; }
const Trailer& LogReader::trailer() const { return impl_->trailer_; }
const EventRecord* LogReader::next() { return impl_->next(); }
std::uint64_t LogReader::position() const { return impl_->position(); }
void LogReader::verify_rest() { impl_->verify_rest(); }

}  // namespace snap
