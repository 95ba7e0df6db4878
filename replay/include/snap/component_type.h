// The component types that code outside a component branches on, by the name the
// manifest records for them (Component::type(), ComponentEntry::type): deployment runs a
// Postgres as a database service, the manifest view gives a Password or a Secret one
// secret each, `snapshot graph` draws each type its own way. Those places match the enum,
// not the text; the name itself is the one each type's constructor gives Component (a
// test checks the two agree, tests/deploy/deploy_plan_reach_test.cc).
//
// Thread safety: pure functions.
#pragma once

#include <string_view>

namespace snap {

enum class ComponentType {
  kOther,  // any type not below: user components, KeyValueStore, Worker, Job, CliCommand, ...
  kApp,
  kApiServer,
  kPort,
  kPassword,
  kSecret,
  kPostgres,
};

// The type a recorded name stands for; kOther for any other name.
ComponentType component_type_of(std::string_view recorded);
// The name the manifest records for `type` ("" for kOther).
std::string_view component_type_name(ComponentType type);
// Password and Secret: the components that hold one secret each (for logs from before the
// manifest recorded secret names: snap::with_secret_names).
inline bool holds_a_secret(ComponentType type) {
  return type == ComponentType::kPassword || type == ComponentType::kSecret;
}

}  // namespace snap
