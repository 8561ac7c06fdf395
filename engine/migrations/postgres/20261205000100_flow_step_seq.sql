-- A step's place in its run's history comes from one sequence instead of the run's highest
-- `seq` so far. Steps of one run are written in turn (the run's row is locked), so a global
-- sequence orders them as well, and the insert reads nothing: a lookup of the run's steps
-- planned while the table was young stayed a sequential scan as it grew.
CREATE SEQUENCE flow_step_seq;
SELECT setval('flow_step_seq', COALESCE((SELECT MAX(seq) FROM flow_steps), 0) + 1, false);
ALTER TABLE flow_steps ALTER COLUMN seq SET DEFAULT nextval('flow_step_seq');
