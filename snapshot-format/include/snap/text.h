// Making text from a log safe to show: a log is untrusted input, and its strings (kinds,
// keys, ids, file names, values) may hold terminal escape sequences, bidirectional-override
// characters or bytes that are not UTF-8. Anything printed for a person -- `snapshot
// inspect`, divergence reports -- goes through printable(); anything put into JSON is
// first checked with is_valid_utf8(), since JSON text must be UTF-8.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace snap {

// `s` with everything that could act on a terminal or be misread escaped, and nothing else
// changed, so plain text reads as itself:
//   - backslash                  -> "\\" (so every escape below is unambiguous)
//   - \n \r \t                   -> "\n" "\r" "\t"
//   - other C0 controls and DEL  -> "\xNN"
//   - C1 controls (U+0080..U+009F) and the invisible direction/format characters that can
//     make text display other than it reads (U+061C, U+200B..U+200F, U+202A..U+202E,
//     U+2060..U+2069, U+FEFF)  -> "\uNNNN"
//   - each byte of invalid UTF-8 (bad lead or continuation byte, overlong form, surrogate,
//     above U+10FFFF, cut sequence) -> "\xNN"
// The result is valid UTF-8 with no control characters.
std::string printable(std::string_view s);

// True when `s` is well-formed UTF-8 (no overlong forms, surrogates or code points above
// U+10FFFF).
bool is_valid_utf8(std::string_view s);

}  // namespace snap
