#include "snap/log_writer.h"

#include <zstd.h>

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <cstring>
#include <string>
#include <unordered_map>
#include <vector>

#include "log_error.h"
#include "log.capnp.h"
#include "log_layout.h"

namespace snap {

namespace {

// Transparent hashing lets the kind table be searched with a string_view.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// Call sites from std::source_location have static strings, so the same site arrives
// with the same pointers every time. That makes a pointer-keyed cache the fast path;
// hits are confirmed by content, because a caller's strings may also be temporaries.
struct SitePointerKey {
  const char* file;
  std::size_t file_size;
  const char* function;
  std::size_t function_size;
  std::uint32_t line;
  std::uint32_t column;
  bool operator==(const SitePointerKey&) const = default;
};
struct SitePointerHash {
  std::size_t operator()(const SitePointerKey& k) const {
    std::uint64_t h = reinterpret_cast<std::uintptr_t>(k.file) * 0x9E3779B97F4A7C15ULL;
    h ^= reinterpret_cast<std::uintptr_t>(k.function) + (h << 6) + (h >> 2);
    h ^= (std::uint64_t{k.line} << 32 | k.column) + (h << 6) + (h >> 2);
    return static_cast<std::size_t>(h);
  }
};

struct StoredSite {
  std::string file;
  std::string function;
  std::uint32_t line;
  std::uint32_t column;
};

std::string site_content_key(const CallSite& s) {
  std::string key;
  key.reserve(s.file.size() + s.function.size() + 24);
  key.append(s.file).push_back('\0');
  key.append(s.function).push_back('\0');
  key.append(std::to_string(s.line)).push_back(':');
  key.append(std::to_string(s.column));
  return key;
}

// Where an event's variable-length fields sit in the chunk's byte arena.
struct Slice {
  std::uint32_t offset = 0;
  std::uint32_t size = 0;
};

struct PendingEvent {
  std::uint16_t kind;
  std::uint32_t call_site;
  ResultKind result_kind;
  Slice key, request, bytes;
  std::int64_t integer;
};

// For std::string (NUL-terminated, as capnp::Text::Reader requires).
capnp::Text::Reader text_of(const std::string& s) { return capnp::Text::Reader(s.data(), s.size()); }

// For views into the chunk arena, which are not NUL-terminated: copy into the message.
void copy_text(capnp::Text::Builder target, std::string_view s) { std::memcpy(target.begin(), s.data(), s.size()); }

}  // namespace

class LogWriter::Impl {
 public:
  Impl(std::filesystem::path path, LogWriterOptions options)
      : path_(std::move(path)), partial_path_(path_.string() + ".partial"), options_(options), env_(*options.env) {}

  ~Impl() {
    abandon();
    if (cctx_ != nullptr) ZSTD_freeCCtx(cctx_);
  }

  void open(const LogHeader& header) {
    cctx_ = ZSTD_createCCtx();
    if (cctx_ == nullptr) detail::throw_log_error(LogErrorCode::kIo, path_, "out of memory");
    ZSTD_CCtx_setParameter(cctx_, ZSTD_c_compressionLevel, options_.compression_level);
    ZSTD_CCtx_setParameter(cctx_, ZSTD_c_checksumFlag, 1);

    try {
      file_ = env_.create_file(partial_path_, std::filesystem::perms(0644));
    } catch (const FileError& e) {
      detail::throw_file_error(partial_path_, "cannot create", e);
    }
    created_ = true;

    unsigned char head[layout::kFileHeaderSize] = {};
    std::memcpy(head, layout::kMagic, sizeof layout::kMagic);
    layout::put_u32(head + 8, layout::kFormatVersion);
    layout::put_u32(head + 12, 0);
    layout::put_u32(head + 16, 0);
    layout::put_u32(head + 20, layout::digest32(head, 20));
    write(head, sizeof head);

    capnp::MallocMessageBuilder message;
    auto h = message.initRoot<schema::Record>().initHeader();
    h.setAppName(text_of(header.app_name));
    h.setBinaryFingerprint(text_of(header.binary_fingerprint));
    h.setWriterVersion(text_of(header.writer_version));
    if (!header.kind.empty()) h.setKind(text_of(header.kind));
    write_record(message);
  }

  void append(const EventRecord& e) {
    if (finished_) detail::throw_log_error(LogErrorCode::kUsage, path_, "append after finish");
    PendingEvent p;
    p.kind = intern_kind(e.kind);
    p.call_site = e.call_site.empty() ? layout::kNoCallSite : intern_site(e.call_site);
    p.result_kind = e.result_kind;
    p.key = stash(e.key);
    p.request = stash(e.request);
    p.bytes = stash(e.bytes);
    p.integer = e.integer;
    pending_.push_back(p);
    ++event_count_;
    if (pending_.size() >= options_.max_events_per_chunk || arena_.size() >= options_.max_chunk_bytes) {
      write_chunk();
    }
  }

  void flush() {
    if (!pending_.empty() || !new_kinds_.empty() || !new_sites_.empty()) write_chunk();
  }

  void finish(const Manifest& manifest) {
    if (finished_) detail::throw_log_error(LogErrorCode::kUsage, path_, "finish called twice");
    flush();

    const std::uint64_t manifest_offset = offset_;
    {
      capnp::MallocMessageBuilder message;
      auto list = message.initRoot<schema::Record>().initManifest().initComponents(
          static_cast<unsigned>(manifest.components.size()));
      for (unsigned i = 0; i < manifest.components.size(); ++i) {
        const ComponentEntry& c = manifest.components[i];
        auto b = list[i];
        b.setId(text_of(c.id));
        b.setType(text_of(c.type));
        b.setPersona(text_of(c.persona));
        b.setConfig(text_of(c.config));
        auto uses = b.initUses(static_cast<unsigned>(c.uses.size()));
        for (unsigned j = 0; j < c.uses.size(); ++j) uses.set(j, text_of(c.uses[j]));
        // Even when empty: a null list is how a reader tells a log from before the field.
        auto secrets = b.initSecrets(static_cast<unsigned>(c.secrets.size()));
        for (unsigned j = 0; j < c.secrets.size(); ++j) secrets.set(j, text_of(c.secrets[j]));
      }
      write_record(message);
    }

    const std::uint64_t trailer_offset = offset_;
    {
      capnp::MallocMessageBuilder message;
      auto t = message.initRoot<schema::Record>().initTrailer();
      t.setEventCount(event_count_);
      t.setDigest(digest_.value());
      t.setComplete(true);
      // The trailer is not part of its own digest.
      write_frame(capnp::messageToFlatArray(message), /*add_to_digest=*/false);
    }

    unsigned char footer[layout::kFooterSize];
    layout::put_u64(footer, manifest_offset);
    layout::put_u64(footer + 8, trailer_offset);
    layout::put_u32(footer + 16, layout::digest32(footer, 16));
    std::memcpy(footer + 20, layout::kEndMagic, sizeof layout::kEndMagic);
    write(footer, sizeof footer);

    try {
      if (options_.sync_on_finish) file_->sync();
    } catch (const FileError& e) {
      detail::throw_file_error(partial_path_, "fsync failed", e);
    }
    file_->close();
    try {
      env_.rename(partial_path_, path_);
    } catch (const FileError& e) {
      detail::throw_log_error(LogErrorCode::kIo, path_,
                              "cannot rename from .partial: " + (e.code() ? e.code().message() : std::string(e.what())));
    }
    finished_ = true;
  }

  void abandon() noexcept {
    if (created_ && !finished_) {
      file_->close();
      try {
        env_.remove_all(partial_path_);
      } catch (const FileError&) {
        // Best effort: what is left is a .partial file, which readers call incomplete.
      }
    }
  }

  std::uint64_t event_count() const { return event_count_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::uint16_t intern_kind(std::string_view kind) {
    // Programs read the same kind many times in a row (a loop over the clock): one
    // remembered entry saves the hash lookup. Content is compared, not pointers.
    if (last_kind_ != nullptr && *last_kind_ == kind) return last_kind_id_;
    auto it = kinds_.find(kind);
    if (it != kinds_.end()) {
      last_kind_ = &it->first;
      last_kind_id_ = it->second;
      return it->second;
    }
    if (kinds_.size() >= 0xFFFF) detail::throw_log_error(LogErrorCode::kUsage, path_, "more than 65535 event kinds");
    const auto id = static_cast<std::uint16_t>(kinds_.size());
    auto inserted = kinds_.emplace(std::string(kind), id).first;
    new_kinds_.emplace_back(kind);
    last_kind_ = &inserted->first;
    last_kind_id_ = id;
    return id;
  }

  std::uint32_t intern_site(const CallSite& s) {
    const SitePointerKey pk{s.file.data(), s.file.size(), s.function.data(), s.function.size(), s.line, s.column};
    if (auto it = sites_by_pointer_.find(pk); it != sites_by_pointer_.end()) {
      const StoredSite& stored = sites_[it->second];
      if (stored.file == s.file && stored.function == s.function) return it->second;
    }
    std::string content = site_content_key(s);
    std::uint32_t id;
    if (auto it = sites_by_content_.find(content); it != sites_by_content_.end()) {
      id = it->second;
    } else {
      id = static_cast<std::uint32_t>(sites_.size());
      sites_.push_back(StoredSite{std::string(s.file), std::string(s.function), s.line, s.column});
      sites_by_content_.emplace(std::move(content), id);
      new_sites_.push_back(id);
    }
    sites_by_pointer_[pk] = id;
    return id;
  }

  Slice stash(std::string_view s) {
    if (s.empty()) return {};
    if (s.size() > 0xFFFFFFFFu - arena_.size()) {
      detail::throw_log_error(LogErrorCode::kUsage, path_, "event payload larger than 4 GiB");
    }
    Slice slice{static_cast<std::uint32_t>(arena_.size()), static_cast<std::uint32_t>(s.size())};
    arena_.append(s);
    return slice;
  }

  std::string_view view(Slice s) const { return std::string_view(arena_).substr(s.offset, s.size); }

  void write_chunk() {
    // Size the first segment so the whole chunk fits in one: events are 5 words each,
    // texts and data round up to words and carry a NUL.
    const std::size_t words = pending_.size() * 8 + arena_.size() / 8 + new_sites_.size() * 32 + 256;
    capnp::MallocMessageBuilder message(static_cast<unsigned>(std::min<std::size_t>(words, 1u << 28)),
                                        capnp::AllocationStrategy::FIXED_SIZE);
    auto chunk = message.initRoot<schema::Record>().initChunk();
    chunk.setFirstEventIndex(event_count_ - pending_.size());

    auto kinds = chunk.initNewKinds(static_cast<unsigned>(new_kinds_.size()));
    for (unsigned i = 0; i < new_kinds_.size(); ++i) kinds.set(i, text_of(new_kinds_[i]));

    auto sites = chunk.initNewCallSites(static_cast<unsigned>(new_sites_.size()));
    for (unsigned i = 0; i < new_sites_.size(); ++i) {
      const StoredSite& s = sites_[new_sites_[i]];
      auto b = sites[i];
      b.setFile(text_of(s.file));
      b.setLine(s.line);
      b.setColumn(s.column);
      b.setFunction(text_of(s.function));
    }

    auto events = chunk.initEvents(static_cast<unsigned>(pending_.size()));
    for (unsigned i = 0; i < pending_.size(); ++i) {
      const PendingEvent& p = pending_[i];
      auto e = events[i];
      e.setKind(p.kind);
      e.setCallSite(p.call_site);
      if (p.key.size) copy_text(e.initKey(p.key.size), view(p.key));
      if (p.request.size) {
        const auto r = view(p.request);
        e.setRequest(capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(r.data()), r.size()));
      }
      auto result = e.initResult();
      const std::string_view bytes = view(p.bytes);
      switch (p.result_kind) {
        case ResultKind::kNone: result.setNone(); break;
        case ResultKind::kInteger: result.setInteger(p.integer); break;
        case ResultKind::kBytes:
          result.setBytes(capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(bytes.data()), bytes.size()));
          break;
        case ResultKind::kSecretHandle: copy_text(result.initSecretHandle(p.bytes.size), bytes); break;
        case ResultKind::kFailure: copy_text(result.initFailure(p.bytes.size), bytes); break;
      }
    }
    write_record(message);
    pending_.clear();
    arena_.clear();
    new_kinds_.clear();
    new_sites_.clear();
  }

  void write_record(capnp::MessageBuilder& message) {
    write_frame(capnp::messageToFlatArray(message), /*add_to_digest=*/true);
  }

  void write_frame(kj::Array<capnp::word> words, bool add_to_digest) {
    const auto bytes = words.asBytes();
    const std::size_t bound = ZSTD_compressBound(bytes.size());
    if (compressed_.size() < layout::kFramePrefixSize + bound) compressed_.resize(layout::kFramePrefixSize + bound);
    auto* out = reinterpret_cast<unsigned char*>(compressed_.data());
    const std::size_t n = ZSTD_compress2(cctx_, out + layout::kFramePrefixSize, bound, bytes.begin(), bytes.size());
    if (ZSTD_isError(n)) {
      detail::throw_log_error(LogErrorCode::kIo, path_, std::string("zstd: ") + ZSTD_getErrorName(n));
    }
    layout::put_u32(out, static_cast<std::uint32_t>(n));
    layout::put_u32(out + 4, static_cast<std::uint32_t>(bytes.size()));
    const std::uint64_t body = layout::digest64(out + layout::kFramePrefixSize, n);
    // The trailer's digest chains the frames' body digests: it sees a dropped, repeated
    // or reordered frame at the cost of hashing only the compressed bytes, once.
    if (add_to_digest) digest_.update(&body, sizeof body);
    layout::put_u32(out + 8, layout::fold32(body));
    layout::put_u32(out + 12, layout::digest32(out, 12));
    write(out, layout::kFramePrefixSize + n);
  }

  void write(const void* data, std::size_t size) {
    try {
      file_->append(std::string_view(static_cast<const char*>(data), size));
    } catch (const FileError& e) {
      detail::throw_file_error(partial_path_, "write failed", e);
    }
    offset_ += size;
  }

  std::filesystem::path path_;
  std::filesystem::path partial_path_;
  LogWriterOptions options_;
  Env& env_;
  std::unique_ptr<WritableFile> file_;
  ZSTD_CCtx* cctx_ = nullptr;
  bool created_ = false;
  bool finished_ = false;
  std::uint64_t offset_ = 0;
  std::uint64_t event_count_ = 0;
  layout::Digest digest_;

  std::unordered_map<std::string, std::uint16_t, StringHash, std::equal_to<>> kinds_;
  std::vector<std::string> new_kinds_;
  const std::string* last_kind_ = nullptr;  // node-based map: stable across inserts
  std::uint16_t last_kind_id_ = 0;
  std::vector<StoredSite> sites_;
  std::unordered_map<SitePointerKey, std::uint32_t, SitePointerHash> sites_by_pointer_;
  std::unordered_map<std::string, std::uint32_t> sites_by_content_;
  std::vector<std::uint32_t> new_sites_;

  std::vector<PendingEvent> pending_;
  std::string arena_;
  std::string compressed_;
};

std::unique_ptr<LogWriter> LogWriter::create(const std::filesystem::path& path, const LogHeader& header,
                                             const LogWriterOptions& options) {
  auto impl = std::make_unique<Impl>(path, options);
  impl->open(header);
  return std::unique_ptr<LogWriter>(new LogWriter(std::move(impl)));
}

LogWriter::LogWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LogWriter::~LogWriter() = default;
void LogWriter::append(const EventRecord& event) { impl_->append(event); }
void LogWriter::flush() { impl_->flush(); }
void LogWriter::finish(const Manifest& manifest) { impl_->finish(manifest); }
std::uint64_t LogWriter::event_count() const { return impl_->event_count(); }
const std::filesystem::path& LogWriter::path() const { return impl_->path(); }

}  // namespace snap
