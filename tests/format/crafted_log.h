// Builds logs the writer would never make -- hostile or misassembled ones -- with every
// check a reader verifies first made valid (frame prefixes, zstd checksums, trailer digest,
// footer), so a test reaches the checks behind them: table sizes, list lengths, index
// continuity, the digest chain.
#pragma once

#include <zstd.h>

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "../../snapshot-format/src/log_layout.h"
#include "log.capnp.h"

namespace snap::testing {

// The bytes of one Cap'n Proto message (whole words), as a frame body.
inline std::string message_bytes(capnp::MessageBuilder& message) {
  auto words = capnp::messageToFlatArray(message);
  return std::string(reinterpret_cast<const char*>(words.asBytes().begin()), words.asBytes().size());
}

// A message whose last-allocated list (of structs, initialised empty as the last thing in
// the message) is rewritten to declare `count` elements of zero words each. Cap'n Proto
// reads every such element as all defaults: a few bytes that decode as millions of records.
inline std::string with_empty_struct_list(std::string body, std::uint32_t count) {
  // The inline-composite list's tag word is the message's last word: element count in bits
  // 2..31, data and pointer words per element above (zero here).
  const std::uint64_t tag = static_cast<std::uint64_t>(count) << 2;
  std::memcpy(body.data() + body.size() - 8, &tag, 8);
  return body;
}

inline std::string header_record(const std::string& app = "crafted") {
  capnp::MallocMessageBuilder m;
  auto h = m.initRoot<schema::Record>().initHeader();
  h.setAppName(app);
  h.setBinaryFingerprint("crafted");
  h.setWriterVersion("crafted");
  return message_bytes(m);
}

// A chunk of `count` zero-word events (all of kind 0, the chunk's one new kind).
inline std::string empty_events_chunk(std::uint64_t first, std::uint32_t count) {
  capnp::MallocMessageBuilder m;
  auto c = m.initRoot<schema::Record>().initChunk();
  c.setFirstEventIndex(first);
  c.initNewKinds(1).set(0, "k");
  c.initEvents(0);
  return with_empty_struct_list(message_bytes(m), count);
}

// A manifest of `count` zero-word (all-empty) components.
inline std::string empty_components_manifest(std::uint32_t count) {
  capnp::MallocMessageBuilder m;
  m.initRoot<schema::Record>().initManifest().initComponents(0);
  return with_empty_struct_list(message_bytes(m), count);
}

inline std::string trailer_record(std::uint64_t events, std::uint64_t digest) {
  capnp::MallocMessageBuilder m;
  auto t = m.initRoot<schema::Record>().initTrailer();
  t.setEventCount(events);
  t.setDigest(digest);
  t.setComplete(true);
  return message_bytes(m);
}

// Frames records into a finished log: file header, one frame per record (the last record
// is the manifest), a trailer with `event_count` and the right digest, and the footer.
inline std::string frame_log(const std::vector<std::string>& records, std::uint64_t event_count) {
  std::string file(layout::kFileHeaderSize, '\0');
  auto* head = reinterpret_cast<unsigned char*>(file.data());
  std::memcpy(head, layout::kMagic, sizeof layout::kMagic);
  layout::put_u32(head + 8, layout::kFormatVersion);
  layout::put_u32(head + 20, layout::digest32(head, 20));

  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 19);
  ZSTD_CCtx_setParameter(cctx, ZSTD_c_checksumFlag, 1);
  auto append_frame = [&](const std::string& body) {
    std::string compressed(ZSTD_compressBound(body.size()), '\0');
    compressed.resize(ZSTD_compress2(cctx, compressed.data(), compressed.size(), body.data(), body.size()));
    const std::uint64_t digest = layout::digest64(compressed.data(), compressed.size());
    unsigned char prefix[layout::kFramePrefixSize];
    layout::put_u32(prefix, static_cast<std::uint32_t>(compressed.size()));
    layout::put_u32(prefix + 4, static_cast<std::uint32_t>(body.size()));
    layout::put_u32(prefix + 8, layout::fold32(digest));
    layout::put_u32(prefix + 12, layout::digest32(prefix, 12));
    file.append(reinterpret_cast<const char*>(prefix), sizeof prefix);
    file += compressed;
    return digest;
  };

  layout::Digest chain;
  std::uint64_t manifest_at = 0;
  for (const std::string& body : records) {
    manifest_at = file.size();
    const std::uint64_t d = append_frame(body);
    chain.update(&d, sizeof d);
  }
  const std::uint64_t trailer_at = file.size();
  append_frame(trailer_record(event_count, chain.value()));
  ZSTD_freeCCtx(cctx);
  unsigned char footer[layout::kFooterSize];
  layout::put_u64(footer, manifest_at);
  layout::put_u64(footer + 8, trailer_at);
  layout::put_u32(footer + 16, layout::digest32(footer, 16));
  std::memcpy(footer + 20, layout::kEndMagic, sizeof layout::kEndMagic);
  file.append(reinterpret_cast<const char*>(footer), sizeof footer);
  return file;
}

// The frames of a finished log, in order (header, chunks, manifest, trailer), each with its
// prefix; and the log rebuilt from frames with the footer's offsets fixed up, as someone
// splicing files would have to.
inline std::vector<std::string> split_frames(const std::string& log) {
  std::vector<std::string> frames;
  std::size_t at = layout::kFileHeaderSize;
  const auto* p = reinterpret_cast<const unsigned char*>(log.data());
  while (at + layout::kFooterSize < log.size()) {
    const std::size_t len = layout::kFramePrefixSize + layout::get_u32(p + at);
    frames.push_back(log.substr(at, len));
    at += len;
  }
  return frames;
}

inline std::string join_frames(const std::string& file_header, const std::vector<std::string>& frames) {
  std::string file = file_header.substr(0, layout::kFileHeaderSize);
  for (const auto& f : frames) file += f;
  unsigned char footer[layout::kFooterSize];
  const std::uint64_t trailer_at = file.size() - frames.back().size();
  const std::uint64_t manifest_at = trailer_at - frames[frames.size() - 2].size();
  layout::put_u64(footer, manifest_at);
  layout::put_u64(footer + 8, trailer_at);
  layout::put_u32(footer + 16, layout::digest32(footer, 16));
  std::memcpy(footer + 20, layout::kEndMagic, sizeof layout::kEndMagic);
  file.append(reinterpret_cast<const char*>(footer), sizeof footer);
  return file;
}

}  // namespace snap::testing
