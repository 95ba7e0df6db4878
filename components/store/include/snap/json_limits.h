// The limits on JSON documents that every part of snapshot reads or stores: one number
// in one place, so that what an endpoint accepts the store can hold, and what the store
// holds it can read back.
//
// Thread safety: constants only.
#pragma once

#include <cstddef>

namespace snap {

// Deepest nesting of arrays and objects in a document (a top-level object is depth 1).
// Endpoints refuse a deeper request body (decode_json and parse_json: JsonError "$: nested
// deeper than 32 arrays and objects (kJsonMaxDepth) at offset N", 400 invalid_argument),
// and both store backends refuse a deeper value (StoreError kInvalidArgument). It bounds
// the parser's work stack and the recursion that destroys, copies and writes a parsed
// document; typed requests and stored records nest a few levels. Bump it together with
// docs/api.md ("The wire format") and docs/store.md.
inline constexpr std::size_t kJsonMaxDepth = 32;

}  // namespace snap
