// The example programs on Kubernetes: their generated NetworkPolicies, evaluated by the
// rules of the Kubernetes API (kubernetes_support.h), allow exactly the pod-to-service pairs
// their declared `uses` give -- what each persona's dev context admits -- as the compose
// reachability test finds for the compose networks.
#include <gtest/gtest.h>

#include <memory>

#include "example_programs.h"
#include "kubernetes_support.h"
#include "snap/app.h"
#include "snap/component_type.h"
#include "snap/deploy.h"
#include "snap/key_value_store.h"
#include "snap/lifecycle.h"
#include "snap/memory_env.h"
#include "snap/persona.h"
#include "snap/postgres.h"

namespace snap {
namespace {

// Whether `ctx` may open `c` in dev: a store opens, a database gives its connection, any
// other component (a server to call) passes the context's `uses` check.
bool opens(const PersonaContext& ctx, const Component& c) {
  try {
    if (const auto* store = dynamic_cast<const KeyValueStore*>(&c)) {
      store->open(ctx);
    } else if (const auto* database = dynamic_cast<const Postgres*>(&c)) {
      (void)database->connection(ctx);
    } else {
      ctx.require_uses(c);
    }
    return true;
  } catch (const UsesError&) {
    return false;
  }
}

// The declared reach: (persona's service, service) for every daemon persona and database a
// persona's context can open.
kube_test::Pairs declared_in_dev(App& app) {
  kube_test::Pairs out;
  for (const Persona* p : app.personas()) {
    const PersonaContext ctx(app, *p, {});
    for (const Component* c : app.components()) {
      if (c == p || !opens(ctx, *c)) continue;
      if (c->persona_kind() == PersonaKind::kDaemon || component_type_of(c->type()) == ComponentType::kPostgres) {
        out.emplace(p->id().service_name(), c->id().service_name());
      }
    }
  }
  return out;
}

TEST(KubernetesPolicy, TheExampleProgramsPoliciesAllowExactlyTheirDeclaredUses) {
  for (const testing::ExampleProgram& example : {testing::customer_example(), testing::hello_example()}) {
    SCOPED_TRACE("examples/" + example.name);
    MemoryEnv system;
    for (const auto& [path, content] : example.files) write_file(system, path, content);
    auto app = start_dev_app(example.name, example.define, system, {});
    const kube_test::Cluster cluster = kube_test::cluster_of(plan_kubernetes(deploy_input(app->manifest()), {}), example.name);
    ASSERT_FALSE(cluster.pods.empty());
    EXPECT_EQ(kube_test::reachable_pairs(cluster), declared_in_dev(*app));
  }
}

// The pairs, spelled out for the customer example: the job and the command call the API
// server, the API server reaches its database; nothing else reaches anything.
TEST(KubernetesPolicy, TheCustomerExamplesPairs) {
  MemoryEnv system;
  const testing::ExampleProgram example = testing::customer_example();
  auto app = start_dev_app(example.name, example.define, system, {});
  const kube_test::Cluster cluster = kube_test::cluster_of(plan_kubernetes(deploy_input(app->manifest()), {}), "customer");
  EXPECT_EQ(kube_test::reachable_pairs(cluster), (kube_test::Pairs{{"customer-server-api", "customer-server-db"},
                                                                   {"example-client", "customer-server-api"},
                                                                   {"get-customer", "customer-server-api"}}));
}

}  // namespace
}  // namespace snap
