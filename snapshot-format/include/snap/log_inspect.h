// What `snapshot inspect` prints, as library calls: a log's header, its event counts by
// kind, the component manifest as a tree, and its events (filtered), as text for people
// or JSON for scripts. Secrets appear only as handles, since the log holds nothing else.
//
// Thread safety: free functions; each call opens its own readers, so concurrent calls are
// safe as long as they write to different streams.
#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace snap {

// A persona's view, computed above this layer (snap::system_view in tools/, which knows
// what secrets components hold) and handed in to be printed beside the manifest.
struct InspectPersona {
  std::string id;
  std::vector<std::string> secrets;    // names only
  std::vector<std::string> reachable;  // component ids
};

struct InspectOptions {
  // List events (after the summary). False: header, counts and manifest only.
  bool list_events = true;
  // Only events of exactly this kind.
  std::optional<std::string> kind;
  // Only events whose key contains this substring.
  std::optional<std::string> key_contains;
  // Only events with from <= index < to.
  std::uint64_t from = 0;
  std::uint64_t to = std::numeric_limits<std::uint64_t>::max();
  // Only the component tree: no header, counts, personas or events.
  bool manifest_only = false;
  // Printed after the manifest ("personas:"; JSON "personas") when not empty.
  std::vector<InspectPersona> personas;
};

// Text: the header, event counts by kind (sorted by kind), the manifest as a tree (a
// component under the one whose id is its longest dotted prefix), then the selected
// events, one per line. Bytes print as a "quoted string" when printable ASCII, else as
// hex:..., cut after 64 bytes with the full length noted; a secret prints only as
// secret:<handle>. JSON: the same as one document, bytes in full (a string, or
// {"hex": ...} when not printable). Both read the whole log before writing anything: a
// bad log throws LogError with `out` untouched. The format is pinned by the goldens in
// tests/golden/ and described in docs/inspect.md.
void inspect_text(const std::filesystem::path& log, const InspectOptions& options, std::ostream& out);
void inspect_json(const std::filesystem::path& log, const InspectOptions& options, std::ostream& out);

}  // namespace snap
