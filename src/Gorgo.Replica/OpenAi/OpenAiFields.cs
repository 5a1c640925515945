using System.Collections.Frozen;
using System.Text.Json;

namespace Gorgo.Replica.OpenAi;

/// <summary>The JSON types a request field may take (null is always allowed for an optional field).</summary>
[Flags]
internal enum FieldKinds
{
    /// <summary>A JSON string.</summary>
    String = 1,

    /// <summary>Any JSON number.</summary>
    Number = 2,

    /// <summary>A JSON number that is a 64-bit integer.</summary>
    Integer = 4,

    /// <summary><c>true</c> or <c>false</c>.</summary>
    Boolean = 8,

    /// <summary>A JSON array.</summary>
    Array = 16,

    /// <summary>A JSON object.</summary>
    Object = 32,
}

/// <summary>
/// The top-level fields each OpenAI endpoint accepts (OpenAI's own and the sampling and template extras vLLM and
/// SGLang accept), with their JSON types: a field outside the list is refused as OpenAI refuses it, a field of the
/// wrong type gets a 400 naming it.
/// </summary>
internal static class OpenAiFields
{
    /// <summary>Fields the router sets itself for the replica (its model name, output length, streaming); the rest are forwarded to HTTP replicas unchanged.</summary>
    public static readonly FrozenSet<string> RouterOwned = FrozenSet.ToFrozenSet(
        ["model", "max_tokens", "max_completion_tokens", "stream", "stream_options", "n"], StringComparer.Ordinal);

    private static readonly (string Name, FieldKinds Kinds)[] Common =
    [
        ("model", FieldKinds.String), ("stream", FieldKinds.Boolean), ("stream_options", FieldKinds.Object),
        ("max_tokens", FieldKinds.Integer), ("n", FieldKinds.Integer), ("temperature", FieldKinds.Number),
        ("top_p", FieldKinds.Number), ("frequency_penalty", FieldKinds.Number), ("presence_penalty", FieldKinds.Number),
        ("seed", FieldKinds.Integer), ("stop", FieldKinds.String | FieldKinds.Array), ("user", FieldKinds.String),
        ("logit_bias", FieldKinds.Object), ("echo", FieldKinds.Boolean),

        // vLLM and SGLang extras.
        ("top_k", FieldKinds.Integer), ("min_p", FieldKinds.Number), ("repetition_penalty", FieldKinds.Number),
        ("length_penalty", FieldKinds.Number), ("min_tokens", FieldKinds.Integer), ("ignore_eos", FieldKinds.Boolean),
        ("skip_special_tokens", FieldKinds.Boolean), ("spaces_between_special_tokens", FieldKinds.Boolean),
        ("include_stop_str_in_output", FieldKinds.Boolean), ("stop_token_ids", FieldKinds.Array),
        ("use_beam_search", FieldKinds.Boolean), ("priority", FieldKinds.Integer), ("request_id", FieldKinds.String),
        ("add_special_tokens", FieldKinds.Boolean), ("truncate_prompt_tokens", FieldKinds.Integer),
        ("return_tokens_as_token_ids", FieldKinds.Boolean), ("cache_salt", FieldKinds.String),
        ("guided_json", FieldKinds.String | FieldKinds.Object), ("guided_regex", FieldKinds.String),
        ("guided_choice", FieldKinds.Array), ("guided_grammar", FieldKinds.String), ("structured_outputs", FieldKinds.Object),
        ("kv_transfer_params", FieldKinds.Object), ("lora_path", FieldKinds.String), ("rid", FieldKinds.String),
        ("regex", FieldKinds.String), ("json_schema", FieldKinds.String), ("ebnf", FieldKinds.String),
    ];

    private static readonly FrozenDictionary<string, FieldKinds> Completions = Build(Common,
    [
        ("prompt", FieldKinds.String | FieldKinds.Array), ("best_of", FieldKinds.Integer), ("suffix", FieldKinds.String),
        ("logprobs", FieldKinds.Integer), ("response_format", FieldKinds.Object),
    ]);

    private static readonly FrozenDictionary<string, FieldKinds> Chat = Build(Common,
    [
        ("messages", FieldKinds.Array), ("max_completion_tokens", FieldKinds.Integer), ("logprobs", FieldKinds.Boolean),
        ("top_logprobs", FieldKinds.Integer), ("tools", FieldKinds.Array), ("tool_choice", FieldKinds.String | FieldKinds.Object),
        ("parallel_tool_calls", FieldKinds.Boolean), ("response_format", FieldKinds.Object), ("functions", FieldKinds.Array),
        ("function_call", FieldKinds.String | FieldKinds.Object), ("metadata", FieldKinds.Object), ("store", FieldKinds.Boolean),
        ("service_tier", FieldKinds.String), ("modalities", FieldKinds.Array), ("reasoning_effort", FieldKinds.String),
        ("verbosity", FieldKinds.String), ("prediction", FieldKinds.Object), ("audio", FieldKinds.Object),
        ("web_search_options", FieldKinds.Object), ("prompt_cache_key", FieldKinds.String), ("safety_identifier", FieldKinds.String),
        ("add_generation_prompt", FieldKinds.Boolean), ("continue_final_message", FieldKinds.Boolean),
        ("chat_template", FieldKinds.String), ("chat_template_kwargs", FieldKinds.Object), ("documents", FieldKinds.Array),
        ("mm_processor_kwargs", FieldKinds.Object), ("separate_reasoning", FieldKinds.Boolean),
    ]);

    /// <summary>The fields <paramref name="endpoint"/> accepts.</summary>
    public static FrozenDictionary<string, FieldKinds> Of(OpenAiEndpoint endpoint) => endpoint == OpenAiEndpoint.Completions ? Completions : Chat;

    /// <summary>Whether <paramref name="value"/> (not null) is one of <paramref name="kinds"/>.</summary>
    public static bool Matches(JsonElement value, FieldKinds kinds) => value.ValueKind switch
    {
        JsonValueKind.String => kinds.HasFlag(FieldKinds.String),
        JsonValueKind.Number => kinds.HasFlag(FieldKinds.Number) || (kinds.HasFlag(FieldKinds.Integer) && value.TryGetInt64(out _)),
        JsonValueKind.True or JsonValueKind.False => kinds.HasFlag(FieldKinds.Boolean),
        JsonValueKind.Array => kinds.HasFlag(FieldKinds.Array),
        JsonValueKind.Object => kinds.HasFlag(FieldKinds.Object),
        _ => false,
    };

    /// <summary>"a string or an array" and the like, for error messages.</summary>
    public static string Describe(FieldKinds kinds)
    {
        var names = new List<string>(4);
        if (kinds.HasFlag(FieldKinds.String)) { names.Add("a string"); }
        if (kinds.HasFlag(FieldKinds.Number)) { names.Add("a number"); }
        else if (kinds.HasFlag(FieldKinds.Integer)) { names.Add("an integer"); }
        if (kinds.HasFlag(FieldKinds.Boolean)) { names.Add("a boolean"); }
        if (kinds.HasFlag(FieldKinds.Array)) { names.Add("an array"); }
        if (kinds.HasFlag(FieldKinds.Object)) { names.Add("an object"); }
        return string.Join(" or ", names);
    }

    private static FrozenDictionary<string, FieldKinds> Build((string Name, FieldKinds Kinds)[] common, (string Name, FieldKinds Kinds)[] own) =>
        common.Concat(own).ToFrozenDictionary(f => f.Name, f => f.Kinds, StringComparer.Ordinal);
}
