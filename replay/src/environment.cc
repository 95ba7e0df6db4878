// The three environments (snap/environment.h) and the one choice among them.
#include "snap/environment.h"

#include "lifecycle_private.h"
#include "snap/component.h"

namespace snap {

namespace {

class InProcess final : public Environment {
 public:
  std::string_view name() const override { return "in process"; }
  Transport transport() const override { return Transport::kInProcess; }
  std::string host_of(const Component&) const override { return std::string(kLoopback); }
  bool listens_on_own_network() const override { return false; }
  bool in_memory_stores() const override { return true; }
  bool user_database_allowed() const override { return true; }
};

class LocalProcesses final : public Environment {
 public:
  std::string_view name() const override { return "local processes"; }
  Transport transport() const override { return Transport::kHttp; }
  std::string host_of(const Component&) const override { return std::string(kLoopback); }
  bool listens_on_own_network() const override { return false; }
  bool in_memory_stores() const override { return false; }
  bool user_database_allowed() const override { return true; }
};

class Containers final : public Environment {
 public:
  std::string_view name() const override { return "containers"; }
  Transport transport() const override { return Transport::kHttp; }
  std::string host_of(const Component& target) const override {
    return target.persona_kind() != PersonaKind::kNone ? target.id().listen_name() : target.id().service_name();
  }
  bool listens_on_own_network() const override { return true; }
  bool in_memory_stores() const override { return false; }
  bool user_database_allowed() const override { return false; }
};

}  // namespace

std::unique_ptr<const Environment> make_environment(Mode mode, Placement placement) {
  if (mode == Mode::kDev) return std::make_unique<InProcess>();
  if (placement == Placement::kLocal) return std::make_unique<LocalProcesses>();
  return std::make_unique<Containers>();
}

}  // namespace snap
