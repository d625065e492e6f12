// A pub/sub topic of one server: the connections subscribed to it. I/O thread only.
//
// Subscribers sit in a vector so a publish walks contiguous memory; each connection remembers
// its index in every topic it joined, so leaving is O(1) (swap with the last, fix its index).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lwsnode {

class Connection;

class Topic {
 public:
  explicit Topic(std::string name) : name_(std::move(name)) {}

  const std::string& name() const { return name_; }
  const std::vector<Connection*>& subscribers() const { return subscribers_; }
  bool empty() const { return subscribers_.empty(); }

  // Returns the index the connection must remember.
  uint32_t add(Connection* conn) {
    subscribers_.push_back(conn);
    return static_cast<uint32_t>(subscribers_.size() - 1);
  }

  // Removes the subscriber at `index`; returns the connection moved into its place (or null).
  Connection* removeAt(uint32_t index) {
    Connection* last = subscribers_.back();
    subscribers_.pop_back();
    if (index == subscribers_.size()) return nullptr;
    subscribers_[index] = last;
    return last;
  }

 private:
  std::string name_;
  std::vector<Connection*> subscribers_;
};

}  // namespace lwsnode
