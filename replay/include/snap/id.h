// Id: the hierarchical, deterministic name of a component, e.g. "my-app.customer-server.db".
//
// Ids are built from a root (the app's name) by child(): the same program always makes
// the same ids, so they can name tables, compose services, networks and env vars that
// must match between the build and every container. A segment may hold any characters;
// '.' and '%' inside a segment are escaped as %2E and %25 so the dotted form stays
// unambiguous.
//
// Thread safety: an Id is an immutable value.
#pragma once

#include <compare>
#include <string>
#include <string_view>
#include <vector>

namespace snap {

class Id {
 public:
  // Throws std::invalid_argument for an empty name.
  static Id root(std::string_view name);
  Id child(std::string_view name) const;
  // The inverse of str(): a dotted, escaped id (as the manifest records it) back into an
  // Id. Throws std::invalid_argument for an empty segment.
  static Id parse(std::string_view dotted);

  // The dotted, escaped form: "my-app.customer-server.db".
  const std::string& str() const { return text_; }
  // Unescaped segments: {"my-app", "customer-server", "db"}.
  std::vector<std::string> segments() const;
  // The last segment, unescaped.
  std::string name() const;
  bool is_root() const { return text_.find('.') == std::string::npos; }

  // A name usable as a PostgreSQL table, a compose service or network, and (upper-cased,
  // see env_name) an environment variable: only [a-z0-9_], starting with a letter, at
  // most 63 characters (PostgreSQL's identifier limit). It is the readable id with every
  // run of other characters turned into '_', cut to fit, then '_' and 8 hex digits of a
  // digest of the full id: ids that read alike ("a-b" and "a.b") still get different names.
  std::string safe_name() const;
  // safe_name() upper-cased: MY_APP_CUSTOMER_SERVER_DB_1A2B3C4D.
  std::string env_name() const;
  // A DNS label for where a deployed persona runs: its compose service name and the host
  // name other services reach it at. The id below the app ("customer-server.api" ->
  // "customer-server-api"), lower-cased, every run of characters outside [a-z0-9] turned
  // into '-'; over 63 characters it is cut and ends in '-' and 8 hex digits of a digest.
  // Readable rather than always unique: deployment refuses two services with one name.
  std::string service_name() const;
  // "listen." + service_name(): the name deployment gives this service's address on the
  // network named after it, the one only its clients share. A server listens there
  // (and on loopback), not on the networks of the services it uses itself, so those
  // cannot connect back (docs/deploy.md, "Least privilege from `uses`").
  std::string listen_name() const;

  friend bool operator==(const Id&, const Id&) = default;
  friend auto operator<=>(const Id&, const Id&) = default;

 private:
  explicit Id(std::string text) : text_(std::move(text)) {}
  std::string text_;
};

}  // namespace snap
