// A zdtm test's description, as CRIU's test/zdtm.py reads it: the optional NAME.desc
// beside the test binary (a Python dict: flavor, flags, opts, dopts, ropts, feature,
// arch, timeout) and the optional NAME.checkskip and NAME.hook scripts.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace flakelab::scenarios::zdtm {

struct ZdtmDesc {
  std::vector<std::string> flavors = {"h", "ns", "uns"};  // zdtm.py's default
  std::vector<std::string> flags;      // suid, noauto, crfail, excl, ...
  std::vector<std::string> opts;       // CRIU options for dump and restore
  std::vector<std::string> dopts;      // dump only
  std::vector<std::string> ropts;      // restore only
  std::vector<std::string> features;   // `criu check --feature F` must pass
  std::string arch;                    // empty: any
  int timeout_s = 30;                  // zdtm.py's default
  bool has_flag(const std::string& flag) const;
  bool has_flavor(const std::string& flavor) const;
};

// Reads TEST.desc (none or empty: the defaults). Throws std::invalid_argument naming the
// file on a read error or a value of the wrong kind.
ZdtmDesc read_zdtm_desc(const std::string& test);

// Why flakelab cannot run TEST in zdtm.py's host flavor ("h"), or nothing: a flavor
// list without h, another architecture, a failing TEST.checkskip, or (when `criu_cli` is
// given) a `criu_cli check --feature F` that fails.
std::optional<std::string> zdtm_skip_reason(const std::string& test, const ZdtmDesc& desc,
                                            const std::string& criu_cli);

}  // namespace flakelab::scenarios::zdtm
