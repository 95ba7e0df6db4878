// The interface between JsonStore and its two backends, and the rules they share.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "snap/store.h"

namespace snap {

class StoreBackend {
 public:
  virtual ~StoreBackend() = default;
  virtual const std::string& name() const = 0;
  virtual bool has_index(std::string_view index) const = 0;
  virtual std::optional<json> get(std::string_view key) = 0;
  virtual void set(std::string_view key, const json& value) = 0;
  virtual bool del(std::string_view key) = 0;
  virtual json modify(std::string_view key, const std::function<json(const std::optional<json>&)>& fn) = 0;
  virtual std::vector<std::string> keys(const KeyPage& page) = 0;
  virtual std::vector<IndexMatch> index_get(std::string_view index, std::string_view index_key) = 0;
};

// The entries `spec` makes for one item, checked: an empty index key is refused before
// anything is written, so a bad indexer never leaves a half-indexed write.
std::vector<IndexEntry> index_entries(const std::string& store, const IndexSpec& spec, std::string_view key,
                                      const json& value);

// Throws kInvalidArgument for an empty key.
void check_key(const std::string& store, std::string_view key);

// [a-z0-9_], starting with a letter, at most 63 bytes; a digest suffix when anything had
// to change, so distinct names stay distinct.
std::string safe_identifier(std::string_view name);

}  // namespace snap
