// libFuzzer target, structure-aware: the input is the *decompressed* records of a log, and
// this driver frames them the way the writer does -- zstd with checksum, frame prefixes
// with correct checks, a trailer with the right digest and event count, a footer. Random
// bytes almost never pass the reader's checksums, so fuzz_log_reader rarely reaches the
// Cap'n Proto decoding and the table/index checks behind them; this target starts there.
//
// Input: one flags byte, then records, each a 16-bit little-endian length and that many
// bytes (zero-padded to whole 8-byte words). Flags: bit 0 = end with trailer and footer
// (the last record is then the one the footer calls the manifest); bit 1 = trailer marks
// the log complete; bit 2 = trailer counts one event too many.
// Seeds: tests/fuzz/corpus-records/, made from real logs by log_to_records.py.
#include <sys/mman.h>
#include <unistd.h>
#include <zstd.h>

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <cstdint>
#include <string>
#include <vector>

#include "log.capnp.h"
#include "log_layout.h"
#include "fuzz_common.h"

namespace {

namespace layout = snap::layout;

// Appends one frame holding `body` (whole words) and returns its 64-bit body digest.
std::uint64_t append_frame(std::string& file, const std::string& body, ZSTD_CCtx* cctx) {
  std::string compressed(ZSTD_compressBound(body.size()), '\0');
  const std::size_t n = ZSTD_compress2(cctx, compressed.data(), compressed.size(), body.data(), body.size());
  if (ZSTD_isError(n)) __builtin_trap();  // our own bug, not the reader's
  compressed.resize(n);
  const std::uint64_t digest = layout::digest64(compressed.data(), compressed.size());
  unsigned char prefix[layout::kFramePrefixSize];
  layout::put_u32(prefix, static_cast<std::uint32_t>(compressed.size()));
  layout::put_u32(prefix + 4, static_cast<std::uint32_t>(body.size()));
  layout::put_u32(prefix + 8, layout::fold32(digest));
  layout::put_u32(prefix + 12, layout::digest32(prefix, 12));
  file.append(reinterpret_cast<const char*>(prefix), sizeof prefix);
  file += compressed;
  return digest;
}

// Events in a chunk record, or 0 if it is not a readable chunk: the trailer should agree
// with honest chunks so the reader's end-of-log checks can pass.
std::uint64_t events_in(const std::string& body) {
  try {
    kj::ArrayPtr<const capnp::word> words(reinterpret_cast<const capnp::word*>(body.data()),
                                          body.size() / sizeof(capnp::word));
    capnp::FlatArrayMessageReader message(words);
    auto record = message.getRoot<snap::schema::Record>();
    return record.isChunk() ? record.getChunk().getEvents().size() : 0;
  } catch (const kj::Exception&) {
    return 0;
  }
}

std::string trailer_body(std::uint64_t events, std::uint64_t digest, bool complete) {
  capnp::MallocMessageBuilder message;
  auto trailer = message.initRoot<snap::schema::Record>().initTrailer();
  trailer.setEventCount(events);
  trailer.setDigest(digest);
  trailer.setComplete(complete);
  auto words = capnp::messageToFlatArray(message);
  return std::string(reinterpret_cast<const char*>(words.asBytes().begin()), words.asBytes().size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t flags = data[0];
  std::vector<std::string> records;
  for (std::size_t at = 1; at + 2 <= size && records.size() < 64;) {
    const std::size_t len = std::min<std::size_t>(data[at] | (data[at + 1] << 8), size - at - 2);
    std::string body(reinterpret_cast<const char*>(data + at + 2), len);
    // Whole words, as the reader requires. (std::string storage is at least 8-byte
    // aligned, which events_in's word view needs.)
    body.resize(std::max<std::size_t>(8, (len + 7) / 8 * 8), '\0');
    records.push_back(std::move(body));
    at += 2 + len;
  }

  static ZSTD_CCtx* const cctx = [] {
    ZSTD_CCtx* c = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 1);
    ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
    return c;
  }();

  std::string file(layout::kFileHeaderSize, '\0');
  auto* head = reinterpret_cast<unsigned char*>(file.data());
  std::memcpy(head, layout::kMagic, sizeof layout::kMagic);
  layout::put_u32(head + 8, layout::kFormatVersion);
  layout::put_u32(head + 20, layout::digest32(head, 20));

  layout::Digest chain;
  std::uint64_t events = 0;
  std::uint64_t last_offset = 0;
  for (const std::string& body : records) {
    last_offset = file.size();
    const std::uint64_t d = append_frame(file, body, cctx);
    chain.update(&d, sizeof d);
    events += events_in(body);
  }
  if ((flags & 1) != 0 && !records.empty()) {
    const std::uint64_t trailer_offset = file.size();
    append_frame(file, trailer_body(events + ((flags & 4) != 0 ? 1 : 0), chain.value(), (flags & 2) != 0), cctx);
    unsigned char footer[layout::kFooterSize];
    layout::put_u64(footer, last_offset);
    layout::put_u64(footer + 8, trailer_offset);
    layout::put_u32(footer + 16, layout::digest32(footer, 16));
    std::memcpy(footer + 20, layout::kEndMagic, sizeof layout::kEndMagic);
    file.append(reinterpret_cast<const char*>(footer), sizeof footer);
  }

  static const int fd = memfd_create("fuzz-log-records", 0);
  if (ftruncate(fd, 0) != 0) return 0;
  if (pwrite(fd, file.data(), file.size(), 0) != static_cast<ssize_t>(file.size())) return 0;
  const std::string path = "/proc/self/fd/" + std::to_string(fd);

  snap::fuzz::read_log(path);
  return 0;
}
