@echo off
rem hive-worker updater (Windows).
rem
rem   updater.bat <old pid> <installed worker.exe> <new worker.exe> <data dir> <new version> <health timeout s>
rem
rem Started detached (through cmd.exe) by the worker, from the NEW release, after the release was
rem verified. The same plan as updater.sh: wait for the old worker to exit, swap worker.exe
rem (keeping exactly one backup, worker.old.exe; a running .exe can be renamed but not deleted),
rem start the new one, wait for <data>\update\healthy to hold the new version, otherwise stop it,
rem restore the backup, write <data>\update\failed-<version> and start the old one again.
rem Every step goes to <data>\logs\updater.log.
setlocal EnableExtensions DisableDelayedExpansion

set "OLD_PID=%~1"
set "TARGET=%~2"
set "NEW=%~3"
set "DATA=%~4"
set "VERSION=%~5"
set "HEALTH_TIMEOUT=%~6"
if "%HEALTH_TIMEOUT%"=="" set "HEALTH_TIMEOUT=60"

set "UPDATE_DIR=%DATA%\update"
set "LOG=%DATA%\logs\updater.log"
set "BACKUP=%~dpn2.old%~x2"
rem The install folder without its trailing backslash: start /d "C:\dir\" fails ("Invalid name").
set "INSTALL_DIR=%~dp2"
set "INSTALL_DIR=%INSTALL_DIR:~0,-1%"
if not exist "%DATA%\logs" mkdir "%DATA%\logs"
if not exist "%UPDATE_DIR%" mkdir "%UPDATE_DIR%"

call :log "installing %VERSION% into %TARGET% (waiting for pid %OLD_PID% to exit)"

set /a WAITED=0
:wait_old
tasklist /FI "PID eq %OLD_PID%" /NH 2>nul | find " %OLD_PID% " >nul
if errorlevel 1 goto old_gone
set /a WAITED+=1
if %WAITED% geq 120 (
  call :give_up "the old worker (pid %OLD_PID%) did not exit within 120 s; nothing was changed"
  exit /b 1
)
call :sleep 1
goto wait_old
:old_gone
call :log "old worker exited"

copy /y /b "%NEW%" "%TARGET%.new" >nul 2>>"%LOG%"
if errorlevel 1 (
  del /f /q "%TARGET%.new" >nul 2>&1
  call :give_up "could not copy the new executable next to %TARGET% (disk full?)"
  call :start_worker
  exit /b 1
)
if exist "%BACKUP%" del /f /q "%BACKUP%" >nul 2>&1
call :retry_move "%TARGET%" "%BACKUP%"
if errorlevel 1 (
  del /f /q "%TARGET%.new" >nul 2>&1
  call :give_up "could not move %TARGET% aside"
  call :start_worker
  exit /b 1
)
call :retry_move "%TARGET%.new" "%TARGET%"
if errorlevel 1 (
  call :retry_move "%BACKUP%" "%TARGET%"
  call :give_up "could not move the new executable into place"
  call :start_worker
  exit /b 1
)
call :log "swapped: %TARGET% is %VERSION%, the previous one is %BACKUP%"

if exist "%UPDATE_DIR%\healthy" del /f /q "%UPDATE_DIR%\healthy" >nul 2>&1
call :start_worker

set /a WAITED=0
:wait_healthy
set "HEALTHY="
if exist "%UPDATE_DIR%\healthy" set /p HEALTHY=<"%UPDATE_DIR%\healthy"
if "%HEALTHY%"=="%VERSION%" (
  call :log "%VERSION% is healthy; update done"
  exit /b 0
)
set /a WAITED+=1
if %WAITED% geq %HEALTH_TIMEOUT% goto roll_back
call :sleep 1
goto wait_healthy

:roll_back
set "NEW_PID="
if exist "%DATA%\worker.lock" for /f "tokens=2 delims=:," %%p in ('type "%DATA%\worker.lock"') do set "NEW_PID=%%p"
if defined NEW_PID taskkill /F /PID %NEW_PID% >nul 2>&1
call :sleep 2
if exist "%DATA%\worker.lock" del /f /q "%DATA%\worker.lock" >nul 2>&1
call :retry_move "%TARGET%" "%TARGET%.failed"
call :retry_move "%BACKUP%" "%TARGET%"
if errorlevel 1 (
  call :give_up "%VERSION% did not report healthy within %HEALTH_TIMEOUT% s; AND the backup could not be restored: %BACKUP% is the previous version"
) else (
  del /f /q "%TARGET%.failed" >nul 2>&1
  call :give_up "%VERSION% did not report healthy within %HEALTH_TIMEOUT% s; rolled back to the previous version"
)
call :start_worker
exit /b 1

rem ---- helpers ----------------------------------------------------------------------------

:log
>>"%LOG%" echo %DATE% %TIME% updater %~1
exit /b 0

:give_up
call :log "update to %VERSION% failed: %~1"
>"%UPDATE_DIR%\failed-%VERSION%" echo %~1
exit /b 0

:start_worker
rem A console window of its own, as when the user double-clicked it.
start "Hive Worker" /d "%INSTALL_DIR%" "%TARGET%"
call :log "started %TARGET%"
exit /b 0

:retry_move
rem Antivirus and the dying process hold files for a moment: retry for up to 60 s.
set /a TRIES=0
:retry_move_again
move /y "%~1" "%~2" >nul 2>>"%LOG%"
if not errorlevel 1 exit /b 0
set /a TRIES+=1
if %TRIES% geq 60 exit /b 1
call :sleep 1
goto retry_move_again

:sleep
rem timeout.exe refuses redirected input; ping waits about a second per extra echo.
set /a PINGS=%~1+1
ping -n %PINGS% 127.0.0.1 >nul 2>&1
exit /b 0
