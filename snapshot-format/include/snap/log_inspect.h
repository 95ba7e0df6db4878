// What `snapshot inspect` prints, as library calls: a log's header, its event counts by
// kind, the component manifest as a tree, and its events (filtered), as text for people
// or JSON for scripts. Secrets appear only as handles, since the log holds nothing else.
//
// Thread safety: free functions; each opens its own readers.
#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <ostream>
#include <string>

namespace snap {

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
};

// Throw LogError for a bad log (before anything is written to `out`, where the damage is
// in the header, footer or manifest; a damaged chunk is found while listing).
void inspect_text(const std::filesystem::path& log, const InspectOptions& options, std::ostream& out);
void inspect_json(const std::filesystem::path& log, const InspectOptions& options, std::ostream& out);

}  // namespace snap
