// Failure signatures: failure messages normalized the way large CI systems cluster failures,
// then hashed, so that "the same failure with other numbers" is one signature.
//
// Normalization (Normalizer::normalize) runs in two stages:
//  1. project-specific masks from a config file (regexes, ECMAScript syntax), in file order;
//  2. the built-in masks, one left-to-right scan that replaces, at word boundaries:
//       UUIDs                        8-4-4-4-12 hex               -> <uuid>
//       date-times / dates           2026-11-23T20:16:07.123Z     -> <ts>     2026-11-23 -> <date>
//       times of day                 20:16:07(.123)               -> <time>
//       hex numbers                  0x5a59fffff000, 0x9          -> <hex>
//       long hex strings             >= 8 hex digits, >= 1 letter -> <hex>    (hashes, addresses)
//       IPv4 addresses (+ port)      127.0.0.1:8080               -> <ip>:<port>
//       decimal numbers (and N.M)    433398, 3.5                  -> <n>, or a named placeholder
//           when the word before is a known kind: pid/ppid/tid/pgid -> <pid>/<tid>,
//           ino/inode -> <ino>, port -> <port>, fd -> <fd>, uid/gid -> <uid>/<gid>
//           ("pid 1234", "pid=1234", "ino: 5" all qualify)
//       temp paths                   /tmp/..., /var/tmp/..., /dev/shm/... -> <tmp>
//       /proc/<number>               /proc/4242/maps              -> /proc/<pid>/maps
//       quoted abstract socket names "@flakelab-scm06-4242" (a quoted name that starts with
//           '@' or "\0" and contains a digit) -> "@<sock>"
//     Digits inside words are kept ("scm06", "x86_64", "ipv6"): they name things.
//     Runs of whitespace (spaces, tabs, newlines) fold to one space; ends are trimmed.
//  Messages longer than kMaxMessageBytes are cut before normalization.
//
// Hash: 64-bit FNV-1a (offset basis 0xcbf29ce484222325, prime 0x100000001b3) over the bytes
// of the normalized text, rendered as 16 lowercase hex digits. It depends on nothing but the
// normalized text, so it is the same across runs, builds and machines (merge relies on it).
//
// Config file (TOML):
//   [[mask]]
//   pattern = "victim-[a-z]+-[0-9]+"   # ECMAScript regex
//   replace = "<victim>"               # replacement text ($& and $1.. allowed)
//   name = "victim process names"      # optional, for error messages
// A bad regex, a missing key or a wrong type is a SignatureError naming the file and line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace flakelab::results {

class SignatureError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// 64-bit FNV-1a of `bytes`.
uint64_t fnv1a64(std::string_view bytes) noexcept;
// 16 lowercase hex digits, most significant first.
std::string hash_hex(uint64_t hash);

struct MaskRule {
  std::string pattern;  // ECMAScript regex
  std::string replace;  // std::regex_replace format
  std::string origin;   // where it came from, e.g. "masks.toml:3", for error messages
};

struct Signature {
  std::string normalized;
  uint64_t hash = 0;
  std::string hex() const { return hash_hex(hash); }
};

class Normalizer {
 public:
  static constexpr std::size_t kMaxMessageBytes = 4096;

  Normalizer();  // built-in masks only
  // Throws SignatureError for a pattern that does not compile (naming rule.origin).
  explicit Normalizer(std::vector<MaskRule> masks);
  static Normalizer from_config_file(const std::string& path);
  // `source` names the text in errors (a path or "<string>").
  static Normalizer from_config_string(std::string_view toml, const std::string& source);

  std::string normalize(std::string_view message) const;
  Signature signature(std::string_view message) const;
  const std::vector<MaskRule>& masks() const;

 private:
  struct Compiled;
  std::shared_ptr<const Compiled> compiled_;  // immutable, so copies share it
};

// The built-in stage alone (no config masks).
std::string normalize_builtin(std::string_view message);

}  // namespace flakelab::results
