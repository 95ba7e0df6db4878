// The decompressed content of every frame of a log, concatenated: lets a test assert
// that something (a secret) appears nowhere in a log, compressed or not.
#pragma once

#include <zstd.h>

#include <stdexcept>
#include <string>

#include "../../snapshot-format/src/log_layout.h"

namespace snap::testing {

inline std::string decompressed_log_bytes(const std::string& file) {
  std::string out;
  std::size_t at = layout::kFileHeaderSize;
  const auto* p = reinterpret_cast<const unsigned char*>(file.data());
  while (at + layout::kFramePrefixSize <= file.size() - layout::kFooterSize) {
    const std::uint32_t compressed = layout::get_u32(p + at);
    const std::uint32_t size = layout::get_u32(p + at + 4);
    std::string frame(size, '\0');
    const std::size_t n = ZSTD_decompress(frame.data(), size, p + at + layout::kFramePrefixSize, compressed);
    if (ZSTD_isError(n)) throw std::runtime_error("bad frame in test log");
    out += frame;
    at += layout::kFramePrefixSize + compressed;
  }
  return out;
}

}  // namespace snap::testing
