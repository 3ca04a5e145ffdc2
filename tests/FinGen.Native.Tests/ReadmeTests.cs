using System.Text.RegularExpressions;

namespace FinGen.Native.Tests;

/// <summary>The README's two set-up commands still exist, point at real projects, and the main job's arguments run.</summary>
[TestFixture]
public sealed partial class ReadmeTests
{
    private static string[] SetupCommands()
    {
        string readme = File.ReadAllText(Path.Combine(Repository.Root, "README.md"));
        var block = SetupBlock().Match(readme);
        Assert.That(block.Success, "README.md has no <!-- setup:begin --> ... <!-- setup:end --> block");
        return block.Groups[1].Value.Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith("dotnet ", StringComparison.Ordinal)).ToArray();
    }

    [Test]
    public void TheSetupHasTwoCommandsTheMainJobThenTheTests()
    {
        var commands = SetupCommands();
        Assert.That(commands, Has.Length.EqualTo(2));
        Assert.That(commands[0], Does.StartWith("dotnet run --project "));
        Assert.That(commands[1], Does.StartWith("dotnet test"));
        string project = commands[0].Split(' ')[3];
        Assert.That(Directory.Exists(Path.Combine(Repository.Root, project)) || File.Exists(Path.Combine(Repository.Root, project)), project);
    }

    [Test]
    public void TheMainJobsArgumentsRun()
    {
        string command = SetupCommands()[0];
        int separator = command.IndexOf(" -- ", StringComparison.Ordinal);
        Assert.That(separator, Is.GreaterThan(0), "the main job passes its arguments after --");
        var args = command[(separator + 4)..].Split(' ', StringSplitOptions.RemoveEmptyEntries).ToList();
        Assert.That(args[0], Is.EqualTo("train"));
        string dir = Directory.CreateTempSubdirectory("fingen-readme-").FullName;
        try
        {
            // The same arguments, shortened to a few steps and pointed at a temporary directory.
            args.AddRange(["--steps", "3", "--out", Path.Combine(dir, "run")]);
            var error = new StringWriter();
            int code = FinGen.Cli.Cli.Run([.. args], new StringWriter(), error);
            Assert.That(code, Is.Zero, error.ToString());
            Assert.That(File.Exists(Path.Combine(dir, "run", "checkpoint.safetensors")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [GeneratedRegex(@"<!-- setup:begin -->(.*?)<!-- setup:end -->", RegexOptions.Singleline)]
    private static partial Regex SetupBlock();
}
