#pragma once
// The capacity benchmarks' reference (bench-pipeline-dpdk, profile-pipeline --reference):
// simdjson On Demand over an event with every value visited (keys unescaped, strings read,
// numbers parsed as double, literals checked).

#include <simdjson.h>

#include <string_view>

namespace sluice::perf {

namespace od = simdjson::ondemand;

inline bool visit(od::value v);
inline bool visit_object(od::object o) {
    for (auto field : o) {
        std::string_view k;
        if (field.unescaped_key().get(k) != simdjson::SUCCESS) return false;
        od::value v;
        if (field.value().get(v) != simdjson::SUCCESS || !visit(v)) return false;
    }
    return true;
}
inline bool visit(od::value v) {
    od::json_type t;
    if (v.type().get(t) != simdjson::SUCCESS) return false;
    switch (t) {
        case od::json_type::object: {
            od::object o;
            return v.get_object().get(o) == simdjson::SUCCESS && visit_object(o);
        }
        case od::json_type::array: {
            od::array a;
            if (v.get_array().get(a) != simdjson::SUCCESS) return false;
            for (auto e : a) {
                od::value ev;
                if (e.get(ev) != simdjson::SUCCESS || !visit(ev)) return false;
            }
            return true;
        }
        case od::json_type::string: {
            std::string_view s;
            return v.get_string().get(s) == simdjson::SUCCESS;
        }
        case od::json_type::number: {
            double d;
            return v.get_double().get(d) == simdjson::SUCCESS;
        }
        case od::json_type::boolean: {
            bool b;
            return v.get_bool().get(b) == simdjson::SUCCESS;
        }
        case od::json_type::null: {
            bool n = false;
            return v.is_null().get(n) == simdjson::SUCCESS && n;
        }
    }
    return false;
}

}  // namespace sluice::perf
