#include "flakelab/scenarios/scenario.h"

#include <stdexcept>

namespace flakelab::scenarios {

const char* to_string(Role role) {
  switch (role) {
    case Role::kVictim: return "victim";
    case Role::kInjector: return "injector";
    case Role::kWriter: return "writer";
  }
  return "unknown-role";
}

std::optional<Role> role_from_string(std::string_view text) {
  for (Role role : {Role::kVictim, Role::kInjector, Role::kWriter}) {
    if (text == to_string(role)) return role;
  }
  return std::nullopt;
}

const std::string& TrialContext::param(const std::string& name) const {
  auto it = params.find(name);
  if (it == params.end()) {
    throw std::logic_error("scenario asked for undeclared parameter '" + name + "'");
  }
  return it->second;
}

bool TrialContext::param_is(const std::string& name, std::string_view value) const {
  return param(name) == value;
}

}  // namespace flakelab::scenarios
