// Streams one chat completion from any OpenAI-compatible endpoint (gorgo replica, a mesh node, vLLM, SGLang)
// with the official OpenAI .NET client, and prints the text and the token usage.
// Usage: dotnet run --project samples/openai-client -- [base URL, default http://127.0.0.1:8000/v1] [model, default llama-3-8b]
using System.ClientModel;
using OpenAI;
using OpenAI.Chat;

string endpoint = args.Length > 0 ? args[0] : "http://127.0.0.1:8000/v1";
string model = args.Length > 1 ? args[1] : "llama-3-8b";
ChatClient chat = new OpenAIClient(new ApiKeyCredential("not-needed"), new OpenAIClientOptions { Endpoint = new Uri(endpoint) }).GetChatClient(model);

ChatTokenUsage? usage = null;
await foreach (StreamingChatCompletionUpdate update in chat.CompleteChatStreamingAsync(
    [new SystemChatMessage("You are a helpful assistant."), new UserChatMessage("Where should this prompt be served?")],
    new ChatCompletionOptions { MaxOutputTokenCount = 16 }))
{
    foreach (ChatMessageContentPart part in update.ContentUpdate)
    {
        Console.Write(part.Text);
    }

    usage = update.Usage ?? usage;
}

Console.WriteLine();
Console.WriteLine(usage is null
    ? "(no usage reported)"
    : $"usage: {usage.InputTokenCount} prompt tokens ({usage.InputTokenDetails?.CachedTokenCount ?? 0} cached), {usage.OutputTokenCount} completion tokens");
