#include "safe_open.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "flakelab/engine/error.h"
#include "flakelab/engine/image.h"

namespace flakelab::engine {
namespace {

std::string octal(unsigned v) {
  char buf[16];
  snprintf(buf, sizeof(buf), "0%o", v);
  return buf;
}

const char* type_name(mode_t type) {
  switch (type & S_IFMT) {
    case S_IFREG: return "a regular file";
    case S_IFDIR: return "a directory";
    case S_IFCHR: return "a character device";
    case S_IFBLK: return "a block device";
    case S_IFIFO: return "a FIFO";
    case S_IFSOCK: return "a socket";
    case S_IFLNK: return "a symbolic link";
    default: return "of an unknown type";
  }
}

// Flags only creation uses, or that would make a different kind of descriptor:
// a dumped description never has them, a crafted one must not truncate or create.
constexpr int kRefusedFlags = O_CREAT | O_TRUNC | O_EXCL | (O_TMPFILE & ~O_DIRECTORY) | O_PATH;
// What openat2() accepts of the rest (it refuses unknown bits; fdinfo may show
// kernel-internal ones, which open() used to ignore).
constexpr int kKeptFlags = O_ACCMODE | O_APPEND | O_NONBLOCK | O_DSYNC | O_SYNC | O_DIRECT | O_LARGEFILE |
                           O_DIRECTORY | O_NOFOLLOW | O_NOATIME | FASYNC;

}  // namespace

std::string image_path_problem(const std::string& path) {
  if (path.empty()) return "the path is empty";
  if (path.find('\0') != std::string::npos) return "the path contains a NUL byte";
  if (path.size() > ImageLimits::kMaxPath)
    return "the path is " + std::to_string(path.size()) + " bytes long (the limit is " +
           std::to_string(ImageLimits::kMaxPath) + ")";
  if (path[0] != '/') return "\"" + path.substr(0, 64) + "\" is not an absolute path";
  if (path == "/") return "";
  size_t start = 1;
  for (;;) {
    size_t end = path.find('/', start);
    std::string part = path.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (part.empty()) return "\"" + path + "\" has an empty component (\"//\" or a trailing \"/\")";
    if (part == "." || part == "..") return "\"" + path + "\" has a \"" + part + "\" component";
    if (end == std::string::npos) return "";
    start = end + 1;
  }
}

std::string identity_mismatch(const struct stat& st, const ExpectedFile& expect) {
  if ((st.st_mode & S_IFMT) != (expect.type & S_IFMT))
    return std::string("it is ") + type_name(st.st_mode) + ", the image has " + type_name(expect.type);
  if (expect.inode != 0 && st.st_ino != expect.inode)
    return "inode " + std::to_string(st.st_ino) + ", the image has " + std::to_string(expect.inode);
  if (expect.dev != 0 && st.st_dev != expect.dev)
    return "device " + std::to_string(st.st_dev) + ", the image has " + std::to_string(expect.dev);
  if (S_ISCHR(expect.type) && st.st_rdev != expect.rdev)
    return "device number " + std::to_string(st.st_rdev) + ", the image has " + std::to_string(expect.rdev);
  if (expect.mode_recorded && (st.st_mode & 07777) != (expect.mode & 07777))
    return "mode " + octal(st.st_mode & 07777) + ", the image has " + octal(expect.mode & 07777);
  if (expect.size_recorded && static_cast<uint64_t>(st.st_size) != expect.size)
    return "size " + std::to_string(st.st_size) + ", the image has " + std::to_string(expect.size);
  return "";
}

base::UniqueFd lookup_image_path(const std::string& path, const ExpectedFile& expect, const std::string& what) {
  if (std::string why = image_path_problem(path); !why.empty()) throw EngineError(what + ": refused: " + why);
  open_how how{};
  how.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC;
  how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
  base::UniqueFd fd(static_cast<int>(syscall(SYS_openat2, AT_FDCWD, path.c_str(), &how, sizeof(how))));
  if (!fd) {
    int err = errno;
    if (err == ELOOP) throw EngineError(what + " " + path + ": refused: a component of the path is a symbolic link", err);
    throw_errno(what + " " + path + " (lookup without following links)", err);
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0) throw_errno(what + " " + path + ": fstat");
  if (std::string why = identity_mismatch(st, expect); !why.empty())
    throw EngineError(what + " " + path + ": refused: not the file the image names (" + why +
                      "): the file was replaced since the dump, or the image was edited");
  return fd;
}

base::UniqueFd open_image_path(const std::string& path, int flags, const ExpectedFile& expect, const std::string& what) {
  if (flags & kRefusedFlags)
    throw EngineError(what + " " + path + ": refused: the image asks for open flags " + octal(flags & kRefusedFlags) +
                      " (creating, truncating or O_PATH), which a dumped descriptor never has");
  base::UniqueFd found = lookup_image_path(path, expect, what);
  // Reopened through our own descriptor: the object checked above, with the
  // permission checks of a real open (under the caller's fs identity).
  std::string self = "/proc/self/fd/" + std::to_string(found.get());
  const int open_flags = (flags & kKeptFlags) | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
  base::UniqueFd fd(::open(self.c_str(), open_flags));
  if (!fd) {
    char text[16];
    snprintf(text, sizeof(text), "0%o", static_cast<unsigned>(flags & kKeptFlags));
    throw_errno(what + " " + path + " with flags " + text);
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0) throw_errno(what + " " + path + ": fstat");
  if (std::string why = identity_mismatch(st, expect); !why.empty())
    throw EngineError(what + " " + path + ": refused: the file changed while it was opened (" + why + ")");
  if (!(flags & O_NONBLOCK) && fcntl(fd.get(), F_SETFL, fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK) != 0)
    throw_errno(what + " " + path + ": fcntl F_SETFL (clear O_NONBLOCK)");
  return fd;
}

}  // namespace flakelab::engine
