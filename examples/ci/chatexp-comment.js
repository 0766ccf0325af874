// Post the chatexp Markdown report as one pull-request comment, updated on every push.
// Used by actions/github-script in chatexp.yml and chatexp-sharded.yml: copy this file to
// .github/chatexp-comment.js beside them. Found again by its hidden marker; a report past
// GitHub's comment limit is cut at a line, any open code block closed, and links to the run.
const fs = require("fs");

module.exports = async ({ github, context, path = "chatexp-report.md" }) => {
  const marker = "<!-- pytest-chatexp report -->";
  const limit = 65536; // the largest comment GitHub accepts, in characters
  const { owner, repo } = context.repo;
  const run = `${context.serverUrl}/${owner}/${repo}/actions/runs/${context.runId}`;
  const footer = `\n\n[The whole report: job summary and the chatexp-report artifact](${run})`;
  let report;
  try {
    report = fs.readFileSync(path, "utf8");
  } catch {
    report = "## pytest-chatexp\n\nNo report was written: the run stopped before its end. See the job log.";
  }
  let body = `${marker}\n${report}`;
  if (body.length + footer.length > limit) {
    const note = "\n\n_Cut to fit a comment._";
    const cut = body.lastIndexOf("\n", limit - footer.length - note.length - 5);
    body = body.slice(0, cut);
    // Close a code block the cut left open, so the rest of the comment renders.
    if ((body.match(/^```/gm) || []).length % 2) body += "\n```";
    body += note;
  }
  body += footer;
  const issue_number = context.issue.number;
  const comments = await github.paginate(github.rest.issues.listComments, {
    owner, repo, issue_number, per_page: 100,
  });
  const mine = comments.find(
    (comment) => comment.user?.type === "Bot" && comment.body?.startsWith(marker),
  );
  if (mine) {
    await github.rest.issues.updateComment({ owner, repo, comment_id: mine.id, body });
  } else {
    await github.rest.issues.createComment({ owner, repo, issue_number, body });
  }
};
