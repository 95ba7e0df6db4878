#include "snap/log_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <capnp/serialize.h>
#include <kj/exception.h>

#include <cerrno>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "file_io.h"
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

class LogReader::Impl {
 public:
  Impl(std::filesystem::path path, LogReaderLimits limits) : path_(std::move(path)), limits_(limits) {}
  ~Impl() {
    if (dctx_ != nullptr) ZSTD_freeDCtx(dctx_);
  }

  void open() {
    const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) detail::throw_log_error(LogErrorCode::kNotFound, path_, "no such file");
      detail::throw_errno(path_, "cannot open", errno);
    }
    file_ = detail::File(fd);
    struct stat st {};
    if (::fstat(fd, &st) != 0) detail::throw_errno(path_, "cannot stat", errno);
    if (S_ISDIR(st.st_mode)) detail::throw_log_error(LogErrorCode::kNotASnapshotLog, path_, "is a directory");
    size_ = static_cast<std::uint64_t>(st.st_size);

    dctx_ = ZSTD_createDCtx();
    if (dctx_ == nullptr) detail::throw_log_error(LogErrorCode::kIo, path_, "out of memory");
    ZSTD_DCtx_setParameter(dctx_, ZSTD_d_windowLogMax, limits_.max_zstd_window_log);

    check_file_header();
    std::uint64_t next = layout::kFileHeaderSize;
    read_frame(next, "header");
    if (!record_->isHeader()) corrupt(layout::kFileHeaderSize, "first record is not a header");
    guard(layout::kFileHeaderSize, [&] {
      auto h = record_->getHeader();
      header_.app_name = view_of(h.getAppName());
      header_.binary_fingerprint = view_of(h.getBinaryFingerprint());
      header_.writer_version = view_of(h.getWriterVersion());
    });
    digest_.update(&body_digest_, sizeof body_digest_);
    first_chunk_offset_ = next;

    if (!read_footer()) classify_unfinished(first_chunk_offset_);
    cursor_ = first_chunk_offset_;
  }

  const EventRecord* next() {
    while (chunk_pos_ >= chunk_events_.size()) {
      if (at_end_) return nullptr;
      load_next_chunk();
    }
    return &chunk_events_[chunk_pos_++];
  }

  std::uint64_t position() const { return position_base_ + chunk_pos_; }

  LogHeader header_;
  Manifest manifest_;
  Trailer trailer_;

 private:
  [[noreturn]] void corrupt(std::uint64_t offset, const std::string& why) {
    detail::throw_log_error(LogErrorCode::kCorrupt, path_, "at byte " + std::to_string(offset) + ": " + why);
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
    const std::size_t got = detail::read_at(file_.fd(), path_, head, sizeof head, 0);
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

  // Reads the frame at `offset` into record_ and advances `offset` past it.
  void read_frame(std::uint64_t& offset, const char* what) {
    const std::uint64_t start = offset;
    // The previous message points into the buffer this frame may replace.
    record_.reset();
    message_.reset();
    unsigned char prefix[layout::kFramePrefixSize];
    const std::size_t got = detail::read_at(file_.fd(), path_, prefix, sizeof prefix, start);
    if (got < sizeof prefix) truncated(start, std::string("inside the prefix of the ") + what + " frame");
    if (layout::get_u32(prefix + 12) != layout::digest32(prefix, 12)) corrupt(start, "bad frame prefix");
    const std::uint32_t compressed = layout::get_u32(prefix);
    const std::uint32_t decompressed = layout::get_u32(prefix + 4);
    if (compressed > limits_.max_frame_bytes || decompressed > limits_.max_frame_bytes) {
      corrupt(start, "frame of " + std::to_string(std::max(compressed, decompressed)) +
                         " bytes exceeds the reader limit of " + std::to_string(limits_.max_frame_bytes));
    }
    if (decompressed % sizeof(capnp::word) != 0 || decompressed == 0) {
      corrupt(start, "bad frame: message size " + std::to_string(decompressed) + " is not a whole number of words");
    }
    const std::uint64_t body = start + layout::kFramePrefixSize;
    if (size_ - body < compressed || body > size_) {
      truncated(start, std::string("inside the ") + what + " frame of " + std::to_string(compressed) + " bytes");
    }
    compressed_.resize(compressed);
    if (detail::read_at(file_.fd(), path_, compressed_.data(), compressed, body) != compressed) {
      truncated(start, std::string("inside the ") + what + " frame");
    }
    body_digest_ = layout::digest64(compressed_.data(), compressed);
    if (layout::get_u32(prefix + 8) != layout::fold32(body_digest_)) {
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
    // Grown, never shrunk: a reader reuses one buffer for every frame. (capnp::word is
    // not copyable, so std::vector cannot hold it portably.)
    if (frame_words_.size() < words) frame_words_ = kj::heapArray<capnp::word>(words);
    const std::size_t n = ZSTD_decompressDCtx(dctx_, frame_words_.begin(), decompressed, compressed_.data(), compressed);
    if (ZSTD_isError(n)) {
      if (ZSTD_getErrorCode(n) == ZSTD_error_checksum_wrong) corrupt(body, "zstd checksum mismatch");
      corrupt(body, std::string("bad frame: zstd: ") + ZSTD_getErrorName(n));
    }
    if (n != decompressed) corrupt(body, "bad frame: decompressed size differs from the frame prefix");

    capnp::ReaderOptions options;
    options.traversalLimitInWords = limits_.traversal_limit_words;
    options.nestingLimit = limits_.nesting_limit;
    guard(body, [&] {
      message_.emplace(kj::ArrayPtr<const capnp::word>(frame_words_.begin(), words), options);
      record_ = message_->getRoot<schema::Record>();
      (void)record_->which();
    });
    frame_offset_ = start;
    offset = body + compressed;
  }

  bool read_footer() {
    if (size_ < layout::kFileHeaderSize + layout::kFooterSize) return false;
    const std::uint64_t at = size_ - layout::kFooterSize;
    unsigned char footer[layout::kFooterSize];
    if (detail::read_at(file_.fd(), path_, footer, sizeof footer, at) != sizeof footer) return false;
    if (std::memcmp(footer + 20, layout::kEndMagic, sizeof layout::kEndMagic) != 0) return false;
    if (layout::get_u32(footer + 16) != layout::digest32(footer, 16)) return false;
    std::uint64_t manifest_at = layout::get_u64(footer);
    std::uint64_t trailer_at = layout::get_u64(footer + 8);
    if (manifest_at < first_chunk_offset_ || manifest_at >= trailer_at || trailer_at >= at) return false;

    const std::uint64_t trailer_start = trailer_at;
    read_frame(trailer_at, "trailer");
    if (!record_->isTrailer() || trailer_at != at) corrupt(at, "bad footer: trailer offset");
    take_trailer();
    manifest_offset_ = manifest_at;
    read_frame(manifest_at, "manifest");
    if (!record_->isManifest() || manifest_at != trailer_start) {
      corrupt(manifest_offset_, "bad footer: manifest offset");
    }
    take_manifest();
    return true;
  }

  void take_trailer() {
    guard(frame_offset_, [&] {
      auto t = record_->getTrailer();
      trailer_.event_count = t.getEventCount();
      trailer_.digest = t.getDigest();
      trailer_.complete = t.getComplete();
    });
    if (!trailer_.complete) {
      detail::throw_log_error(LogErrorCode::kIncomplete, path_, "the trailer marks the log unfinished");
    }
  }

  void take_manifest() {
    guard(frame_offset_, [&] {
      for (auto c : record_->getManifest().getComponents()) {
        ComponentEntry e;
        e.id = view_of(c.getId());
        e.type = view_of(c.getType());
        e.persona = view_of(c.getPersona());
        e.config = view_of(c.getConfig());
        for (auto u : c.getUses()) e.uses.emplace_back(view_of(u));
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
      read_frame(offset, "next");
      if (record_->isChunk()) {
        guard(start, [&] { events += record_->getChunk().getEvents().size(); });
      } else if (record_->isTrailer()) {
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

  void load_next_chunk() {
    const std::uint64_t start = cursor_;
    read_frame(cursor_, "chunk");
    digest_.update(&body_digest_, sizeof body_digest_);
    position_base_ += chunk_events_.size();
    chunk_events_.clear();
    chunk_pos_ = 0;
    if (record_->isManifest()) {
      at_end_ = true;
      if (start != manifest_offset_) corrupt(start, "manifest found before its recorded offset");
      if (position_base_ != trailer_.event_count) {
        corrupt(start, "log holds " + std::to_string(position_base_) + " events, the trailer says " +
                           std::to_string(trailer_.event_count));
      }
      if (digest_.value() != trailer_.digest) corrupt(start, "digest mismatch: frames are missing or out of order");
      return;
    }
    if (!record_->isChunk()) corrupt(start, "expected an event chunk");
    guard(start, [&] { decode_chunk(start); });
  }

  void decode_chunk(std::uint64_t start) {
    auto chunk = record_->getChunk();
    if (chunk.getFirstEventIndex() != position_base_) {
      corrupt(start, "chunk starts at event " + std::to_string(chunk.getFirstEventIndex()) + ", expected " +
                         std::to_string(position_base_));
    }
    for (auto k : chunk.getNewKinds()) {
      if (kinds_.size() >= limits_.max_kinds) corrupt(start, "more event kinds than the reader limit");
      kinds_.emplace_back(view_of(k));
      kind_views_.push_back(kinds_.back());
    }
    for (auto s : chunk.getNewCallSites()) {
      if (sites_.size() >= limits_.max_call_sites) corrupt(start, "more call sites than the reader limit");
      sites_.push_back(StoredSite{std::string(view_of(s.getFile())), std::string(view_of(s.getFunction())),
                                  s.getLine(), s.getColumn()});
      const StoredSite& stored = sites_.back();
      site_views_.push_back(CallSite{stored.file, stored.line, stored.column, stored.function});
    }
    auto events = chunk.getEvents();
    chunk_events_.resize(events.size());
    std::uint64_t index = position_base_;
    for (unsigned i = 0; i < events.size(); ++i) {
      auto e = events[i];
      EventRecord& r = chunk_events_[i];
      const std::uint16_t kind = e.getKind();
      if (kind >= kind_views_.size()) corrupt(start, "event " + std::to_string(index) + " names an unknown kind");
      r.index = index++;
      r.kind = kind_views_[kind];
      const std::uint32_t site = e.getCallSite();
      if (site == layout::kNoCallSite) {
        r.call_site = CallSite{};
      } else if (site < site_views_.size()) {
        r.call_site = site_views_[site];
      } else {
        corrupt(start, "event " + std::to_string(r.index) + " names an unknown call site");
      }
      r.key = e.hasKey() ? view_of(e.getKey()) : std::string_view();
      r.request = e.hasRequest() ? view_of(e.getRequest()) : std::string_view();
      auto result = e.getResult();
      r.bytes = {};
      r.integer = 0;
      switch (result.which()) {
        case schema::Event::Result::NONE: r.result_kind = ResultKind::kNone; break;
        case schema::Event::Result::INTEGER:
          r.result_kind = ResultKind::kInteger;
          r.integer = result.getInteger();
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
        default: corrupt(start, "event " + std::to_string(r.index) + " has an unknown result kind");
      }
    }
  }

  std::filesystem::path path_;
  LogReaderLimits limits_;
  detail::File file_;
  std::uint64_t size_ = 0;
  ZSTD_DCtx* dctx_ = nullptr;

  std::vector<char> compressed_;
  kj::Array<capnp::word> frame_words_;
  std::uint64_t body_digest_ = 0;  // digest64 of the current frame's compressed bytes
  std::uint64_t frame_offset_ = 0;
  std::optional<capnp::FlatArrayMessageReader> message_;
  std::optional<schema::Record::Reader> record_;

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
  std::vector<EventRecord> chunk_events_;
  std::size_t chunk_pos_ = 0;
  std::uint64_t position_base_ = 0;
};

std::unique_ptr<LogReader> LogReader::open(const std::filesystem::path& path, const LogReaderLimits& limits) {
  auto impl = std::make_unique<Impl>(path, limits);
  impl->open();
  return std::unique_ptr<LogReader>(new LogReader(std::move(impl)));
}

LogReader::LogReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LogReader::~LogReader() = default;
const LogHeader& LogReader::header() const { return impl_->header_; }
const Manifest& LogReader::manifest() const { return impl_->manifest_; }
const Trailer& LogReader::trailer() const { return impl_->trailer_; }
const EventRecord* LogReader::next() { return impl_->next(); }
std::uint64_t LogReader::position() const { return impl_->position(); }

}  // namespace snap
