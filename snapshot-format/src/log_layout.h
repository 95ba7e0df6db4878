// The byte layout of a snapshot log, and the constants that define it.
// docs/log-format.md describes the same layout for people; change both together.
//
//   file     := file_header  frame(header)  frame(chunk)*  frame(manifest)  frame(trailer)  footer
//
//   file_header (24 bytes, little-endian)
//     0   8  magic  89 53 4E 50 0D 0A 1A 0A  ("\x89SNP\r\n\x1a\n": the high byte and the
//            CR/LF/^Z pair catch 7-bit and text-mode copies, as PNG's does)
//     8   4  format version        (kFormatVersion)
//     12  4  compatible-change flags (bits an older reader may ignore)
//     16  4  reserved, zero
//     20  4  check: digest32(bytes 0..19)
//   Magic, version and check stay at these offsets in every future version, so any
//   reader can name the version of a log it cannot read.
//
//   frame (16-byte prefix, then one zstd frame with its content checksum on)
//     0   4  compressed size   (bytes of the zstd frame that follows)
//     4   4  decompressed size (bytes of the Cap'n Proto message inside; a multiple of 8)
//     8   4  body check: fold32(digest64(the compressed bytes)). zstd's own checksum covers the
//            decompressed content, but some bit flips in entropy-coded data decode to the
//            same content and pass it; this check sees every flip in the file.
//     12  4  prefix check: digest32(bytes 0..11) -- tells a damaged prefix from a
//            truncated file
//     The decompressed bytes are one Cap'n Proto message (standard segment-table framing)
//     whose root is schema::Record.
//
//   footer (24 bytes, at the very end, only in a finished log)
//     0   8  offset of the manifest frame
//     8   8  offset of the trailer frame
//     16  4  check: digest32(bytes 0..15)
//     20  4  end magic "SNP\x1a"
//   Lets a reader find the manifest and confirm completeness without reading every event.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace snap::layout {

// Bump when a change makes older readers misread new logs (a changed frame layout, a
// field whose meaning changed). Appending schema fields does not need a bump.
inline constexpr std::uint32_t kFormatVersion = 1;
// No compatible-change flags are defined yet.
inline constexpr std::uint32_t kKnownCompatibleFlags = 0;

inline constexpr unsigned char kMagic[8] = {0x89, 'S', 'N', 'P', '\r', '\n', 0x1a, '\n'};
inline constexpr unsigned char kEndMagic[4] = {'S', 'N', 'P', 0x1a};
inline constexpr std::size_t kFileHeaderSize = 24;
inline constexpr std::size_t kFramePrefixSize = 16;
inline constexpr std::size_t kFooterSize = 24;
inline constexpr std::uint32_t kNoCallSite = 0xFFFFFFFFu;

inline void put_u32(unsigned char* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}
inline void put_u64(unsigned char* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}
inline std::uint32_t get_u32(const unsigned char* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
inline std::uint64_t get_u64(const unsigned char* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// A fast 64-bit streaming digest (an xxHash64-style round per 8-byte word). It guards
// against damage and misassembly, not against an adversary.
class Digest {
 public:
  void update(const void* data, std::size_t size) {
    const auto* p = static_cast<const unsigned char*>(data);
    length_ += size;
    while (size >= 8) {
      std::uint64_t w;
      std::memcpy(&w, p, 8);
      round(w);
      p += 8;
      size -= 8;
    }
    if (size > 0) {
      std::uint64_t w = 0;
      std::memcpy(&w, p, size);
      round(w ^ (std::uint64_t{0xff} << 56));
    }
  }
  std::uint64_t value() const { return avalanche(state_ ^ length_); }

  static std::uint64_t avalanche(std::uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
  }

 private:
  static constexpr std::uint64_t kPrime1 = 0x9E3779B185EBCA87ULL;
  static constexpr std::uint64_t kPrime2 = 0xC2B2AE3D27D4EB4FULL;
  static std::uint64_t rotl(std::uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
  void round(std::uint64_t w) {
    state_ ^= rotl(w * kPrime2, 31) * kPrime1;
    state_ = rotl(state_, 27) * kPrime1 + 0x85EBCA77C2B2AE63ULL;
  }
  std::uint64_t state_ = 0x27D4EB2F165667C5ULL;
  std::uint64_t length_ = 0;
};

inline std::uint64_t digest64(const void* data, std::size_t size) {
  Digest d;
  d.update(data, size);
  return d.value();
}
inline std::uint32_t fold32(std::uint64_t v) { return static_cast<std::uint32_t>(v ^ (v >> 32)); }
inline std::uint32_t digest32(const void* data, std::size_t size) { return fold32(digest64(data, size)); }

}  // namespace snap::layout
