#include "snap/component_type.h"

#include <array>
#include <utility>

namespace snap {

namespace {

constexpr std::array<std::pair<ComponentType, std::string_view>, 6> kNames{{
    {ComponentType::kApp, "App"},
    {ComponentType::kApiServer, "ApiServer"},
    {ComponentType::kPort, "Port"},
    {ComponentType::kPassword, "Password"},
    {ComponentType::kSecret, "Secret"},
    {ComponentType::kPostgres, "Postgres"},
}};

}  // namespace

ComponentType component_type_of(std::string_view recorded) {
  for (const auto& [type, name] : kNames) {
    if (name == recorded) return type;
  }
  return ComponentType::kOther;
}

std::string_view component_type_name(ComponentType type) {
  for (const auto& [known, name] : kNames) {
    if (known == type) return name;
  }
  return {};
}

}  // namespace snap
