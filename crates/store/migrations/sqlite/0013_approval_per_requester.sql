-- Review S14, finding 3. Kept in lockstep with
-- ../postgres/0013_approval_per_requester.sql.
--
-- A pending approval is one principal's request: an approval admits only
-- the principal that asked, and a denial refuses only that principal's
-- request. Keyed without the requester (0007), a second principal's
-- request was answered with the first one's pending approval and never
-- recorded, and one principal's denial refused another's request nobody
-- had seen. One pending request per (agent, environment, audience,
-- scopes, requester) now. Every row satisfies the wider key already.
DROP INDEX approvals_one_pending;
CREATE UNIQUE INDEX approvals_one_pending
    ON approvals (agent_id, environment, audience, scopes, requested_by)
    WHERE state = 'pending';
