namespace Gorgo.Routing.Tokens;

/// <summary>One message of a chat request: a role (system, user, assistant, tool) and its text.</summary>
public sealed record ChatMessage(string Role, string Content);
