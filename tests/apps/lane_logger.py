"""A CustomLogger for the fast lane's logging tests: appends what LiteLLM hands it to a JSONL file.

Used as ``litellm_settings.callbacks: ["lane_logger.recorder"]`` (LiteLLM loads it from
the config's directory); the file is ``$LANE_LOGGER_OUT``.
"""

import json
import os

from litellm.integrations.custom_logger import CustomLogger


def _usage(response):
    u = getattr(response, "usage", None)
    if u is None:
        return None
    return {k: getattr(u, k, None) for k in ("prompt_tokens", "completion_tokens", "total_tokens")}


def _slo_fields(slo):
    if not isinstance(slo, dict):
        return None
    md = slo.get("metadata") or {}
    hp = slo.get("hidden_params") or {}
    return {
        "call_type": slo.get("call_type"),
        "status": slo.get("status"),
        "model": slo.get("model"),
        "model_group": slo.get("model_group"),
        "model_id": slo.get("model_id"),
        "api_base": slo.get("api_base"),
        "custom_llm_provider": slo.get("custom_llm_provider"),
        "prompt_tokens": slo.get("prompt_tokens"),
        "completion_tokens": slo.get("completion_tokens"),
        "total_tokens": slo.get("total_tokens"),
        "response_cost": slo.get("response_cost"),
        "messages": slo.get("messages"),
        "response": slo.get("response"),
        "cache_hit": slo.get("cache_hit"),
        "user_api_key_hash": md.get("user_api_key_hash"),
        "user_api_key_alias": md.get("user_api_key_alias"),
        "user_api_key_user_id": md.get("user_api_key_user_id"),
        "user_api_key_team_id": md.get("user_api_key_team_id"),
        "requester_ip_address": md.get("requester_ip_address"),
        "hidden_model_id": hp.get("model_id"),
        "hidden_api_base": hp.get("api_base"),
        "hidden_response_cost": hp.get("response_cost"),
        "id": slo.get("id"),
        "trace_id": slo.get("trace_id"),
    }


class LaneLogger(CustomLogger):
    def _write(self, kind, kwargs, response_obj):
        rec = {
            "kind": kind,
            "pid": os.getpid(),
            "model": kwargs.get("model"),
            "call_type": kwargs.get("call_type"),
            "stream": kwargs.get("stream"),
            "response_cost": kwargs.get("response_cost"),
            "litellm_call_id": kwargs.get("litellm_call_id"),
            "usage": _usage(response_obj),
            "response_id": getattr(response_obj, "id", None),
            "response_model": getattr(response_obj, "model", None),
            "slo": _slo_fields(kwargs.get("standard_logging_object")),
        }
        with open(os.environ["LANE_LOGGER_OUT"], "a", encoding="utf-8") as fh:
            fh.write(json.dumps(rec, ensure_ascii=False, default=str) + "\n")

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self._write("async_success", kwargs, response_obj)

    def log_success_event(self, kwargs, response_obj, start_time, end_time):
        self._write("sync_success", kwargs, response_obj)

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        self._write("async_failure", kwargs, response_obj)


recorder = LaneLogger()
