// The image side of a kind of file with something of its own in the image: a
// record in its pb::File (File.eventfd, .epoll, .timerfd, .signalfd), a table of
// the process (pipes), or just how `flakelab show` names it (sockets): the
// rules, and how `flakelab show` prints it. One <module>_record.cpp per such kind, named in
// all_kinds.inc; part of flakelab_engine_image, so the decoder and the fuzzer
// check records without the engine. (The engine side is kinds/<module>.cpp.)
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "flakelab/engine/image.h"

namespace flakelab::engine {

// What a record's rules see of the image around it. Throws ImageError naming the
// image file and the field, "files[I].<field>".
class RecordCheck {
 public:
  RecordCheck(const std::string& file, const pb::Process& process, int index,
              const std::map<uint32_t, uint32_t>& file_of, bool referenced)
      : file_(file), process_(process), index_(index), file_of_(file_of), referenced_(referenced) {}

  [[noreturn]] void fail(const std::string& field, const std::string& problem) const;
  // `n` above `max` fails naming `field`.
  void count(const std::string& field, int n, uint64_t max) const;

  const pb::Process& process() const { return process_; }
  int index() const { return index_; }  // of the file in process().files
  // The files index fd `fd` refers to, or -1 if no fd has that number.
  int64_t file_of(uint32_t fd) const;
  bool referenced() const { return referenced_; }  // some fd refers to the file

 private:
  const std::string& file_;
  const pb::Process& process_;
  int index_;
  const std::map<uint32_t, uint32_t>& file_of_;
  bool referenced_;
};

// What a kind's table rules see: the whole process. Throws ImageError naming the
// image file and any field ("pipes[2].capacity", "files[1].pipe_id").
class TableCheck {
 public:
  TableCheck(const std::string& file, const pb::Process& process) : file_(file), process_(process) {}
  [[noreturn]] void fail(const std::string& field, const std::string& problem) const;
  // `n` above `max` fails naming `field`.
  void count(const std::string& field, int n, uint64_t max) const;
  const pb::Process& process() const { return process_; }

 private:
  const std::string& file_;
  const pb::Process& process_;
};

struct FileRecord {
  // Each file's record (anonymous-inode kinds); throws ImageError (through
  // `check`) for anything restore could not honour. May be null.
  void (*validate)(const pb::File& f, const RecordCheck& check);
  // The file on its fd's line of `flakelab show`, in place of a path
  // ("eventfd count 3"); more lines start with "\n      ".
  std::string (*show)(const pb::File& f);
  // The kind's table in the process with the files that refer to it (pipes and
  // their ends), before the files' common rules. May be null.
  void (*validate_table)(const TableCheck& check) = nullptr;
};

// The record rules of `kind`; nullptr for kinds without a record of their own.
const FileRecord* file_record(pb::FileKind kind);
// Every kind's record, in all_kinds.inc order (kinds without one left out).
const std::vector<const FileRecord*>& file_records();

// snprintf into a std::string, for show().
std::string record_text(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

}  // namespace flakelab::engine
